"""/api/v1 content: posts with their per-channel variants, media files, the message library and bulk import."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from civicpulse.domain.content import services
from civicpulse.domain.content.schemas import (
    LibraryIn,
    LibraryOut,
    MediaOut,
    PostCreate,
    PostOut,
    PostUpdate,
    VariantIn,
    VariantOut,
    VariantUpdate,
)
from civicpulse.domain.errors import ValidationFailed
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.publishing import queries
from civicpulse.domain.publishing import services as pub
from civicpulse.web.api.common import ERRORS, PageOut, page_params
from civicpulse.web.deps import DB, api_actor, settings

router = APIRouter(responses=ERRORS, tags=["content"])


def post_out(s: Session, actor: Actor, post: Any) -> PostOut:
    out = PostOut.model_validate(post)
    out.variants = [VariantOut.model_validate(v) for v in queries.variants_of(s, actor, post.id)]
    return out


class ImportReportOut(BaseModel):
    ok: bool
    rows: int
    posts: int
    variants: int
    errors: list[dict[str, Any]]
    stored: bool


class AltTextIn(BaseModel):
    alt_text: str


@router.get("/posts", response_model=PageOut[PostOut], summary="Posts of the units you can see")
def list_posts(unit_id: int | None = None, subtree: bool = True, review_status: str | None = None,
               state: str | None = Query(None, description="Posts with at least one variant in this state"),
               q: str | None = Query(None, max_length=200), paging: tuple[int, int] = Depends(page_params),
               actor: Actor = Depends(api_actor), s: Session = DB):
    p = queries.posts(s, actor, unit_id=unit_id, subtree=subtree, review_status=review_status, state=state, q=q,
                      page=paging[0], per_page=paging[1])
    return PageOut[PostOut](items=[post_out(s, actor, x) for x in p.items], total=p.total, page=p.page,
                            per_page=p.per_page)


@router.post("/posts", response_model=PostOut, status_code=201, summary="Write a post (and its channel variants)")
def create_post(data: PostCreate, actor: Actor = Depends(api_actor), s: Session = DB):
    return post_out(s, actor, services.create_post(s, actor, data))


@router.get("/posts/{post_id}", response_model=PostOut)
def get_post(post_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return post_out(s, actor, queries.post(s, actor, post_id))


@router.patch("/posts/{post_id}", response_model=PostOut)
def update_post(post_id: int, data: PostUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return post_out(s, actor, services.update_post(s, actor, post_id, data))


@router.delete("/posts/{post_id}", status_code=204, summary="Delete a post that never went out")
def delete_post(post_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> None:
    services.delete_post(s, actor, post_id)


@router.post("/posts/{post_id}/variants", response_model=VariantOut, status_code=201,
             summary="Add a channel to a post")
def add_variant(post_id: int, data: VariantIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(services.add_variant(s, actor, post_id, data))


@router.get("/variants/{variant_id}", response_model=VariantOut)
def get_variant(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(queries.variant(s, actor, variant_id))


@router.get("/variants/{variant_id}/problems", summary="What the channel's platform would refuse in this variant")
def variant_problems(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> list[dict[str, str]]:
    return pub.problems(s, queries.variant(s, actor, variant_id))


@router.patch("/variants/{variant_id}", response_model=VariantOut,
              summary="Edit a variant (an approved or scheduled one goes back to draft)")
def update_variant(variant_id: int, data: VariantUpdate, actor: Actor = Depends(api_actor), s: Session = DB):
    return VariantOut.model_validate(pub.update_variant(s, actor, variant_id, data))


@router.delete("/variants/{variant_id}", status_code=204)
def delete_variant(variant_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> None:
    pub.delete_variant(s, actor, variant_id)


@router.post("/attachments", response_model=MediaOut, status_code=201,
             summary="Upload an attachment (JPEG, PNG, GIF, WebP, MP4, PDF)")
async def upload_media(request: Request, unit_id: int = Form(...), alt_text: str = Form(""),
                       file: UploadFile = File(...), actor: Actor = Depends(api_actor), s: Session = DB):
    data = await file.read()
    return MediaOut.model_validate(services.store_media(
        s, actor, settings(request), unit_id=unit_id, filename=file.filename or "upload",
        mime=file.content_type or "", data=data, alt_text=alt_text))


@router.get("/attachments/{media_id}", response_model=MediaOut)
def get_media(media_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return MediaOut.model_validate(queries.media(s, actor, media_id))


@router.get("/attachments/{media_id}/file", summary="The attachment itself")
def media_file(media_id: int, request: Request, actor: Actor = Depends(api_actor), s: Session = DB) -> FileResponse:
    m = queries.media(s, actor, media_id)
    return FileResponse(services.media_path(settings(request), m), media_type=m.mime, filename=m.filename)


@router.patch("/attachments/{media_id}", response_model=MediaOut, summary="Set the alt text (required for images)")
def media_alt(media_id: int, data: AltTextIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return MediaOut.model_validate(services.set_alt_text(s, actor, media_id, data.alt_text))


@router.get("/library", response_model=list[LibraryOut],
            summary="Approved messages and hashtags usable by a unit (its own and those above it)")
def library(unit_id: int, kind: str | None = None, q: str | None = Query(None, max_length=200),
            actor: Actor = Depends(api_actor), s: Session = DB):
    return [LibraryOut.model_validate(x) for x in queries.library(s, actor, unit_id, kind=kind, q=q)]


@router.post("/library", response_model=LibraryOut, status_code=201)
def add_library(data: LibraryIn, actor: Actor = Depends(api_actor), s: Session = DB):
    return LibraryOut.model_validate(services.add_library_entry(s, actor, data))


@router.delete("/library/{entry_id}", response_model=LibraryOut, summary="Archive a library entry")
def archive_library(entry_id: int, actor: Actor = Depends(api_actor), s: Session = DB):
    return LibraryOut.model_validate(services.archive_library_entry(s, actor, entry_id))


@router.post("/library/seed-from-plans", summary="Copy the approved key messages of the unit's plans")
def seed_library(unit_id: int, actor: Actor = Depends(api_actor), s: Session = DB) -> dict[str, int]:
    return {"changed": services.seed_library_from_plans(s, actor, unit_id)}


@router.post("/posts/import", response_model=ImportReportOut,
             summary="Bulk-import a content calendar (CSV or JSON); all rows or nothing")
async def import_posts(file: UploadFile = File(...), dry_run: bool = Form(False), actor: Actor = Depends(api_actor),
                       s: Session = DB):
    data = await file.read()
    try:
        rep = services.import_calendar(s, actor, file.filename or "upload.csv", data, dry_run=dry_run)
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text") from exc
    return ImportReportOut(ok=rep.ok, rows=rep.rows, posts=rep.posts, variants=rep.variants, errors=rep.errors,
                           stored=rep.ok and not dry_run)
