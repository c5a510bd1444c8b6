"""A realistic demo organisation: a ministry, its departments and its network agencies, with people in every role."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from civicpulse.config import Settings
from civicpulse.db.session import Database
from civicpulse.domain.org import services
from civicpulse.domain.org.models import Unit, User
from civicpulse.domain.org.permissions import Actor
from civicpulse.domain.org.schemas import RoleIn, UnitCreate, UserCreate

DEMO_PASSWORD = "civicpulse-demo"  # noqa: S105 - printed on screen for the demo only

# code, parent code, kind, vi, th, en
UNITS: list[tuple[str, str | None, str, str, str, str]] = [
    ("MOPH", None, "ministry", "Bộ Y tế Công cộng", "กระทรวงสาธารณสุข", "Ministry of Public Health"),
    ("MOPH-PR", "MOPH", "bureau", "Vụ Truyền thông", "กองสาธารณสุขสื่อสาร", "Public Relations Bureau"),
    ("DDC", "MOPH", "department", "Cục Kiểm soát Dịch bệnh", "กรมควบคุมโรค", "Department of Disease Control"),
    ("DOH", "MOPH", "department", "Cục Sức khỏe", "กรมอนามัย", "Department of Health"),
    ("DMS", "MOPH", "department", "Cục Dịch vụ Y tế", "กรมการแพทย์", "Department of Medical Services"),
    ("FDA", "MOPH", "department", "Cục Quản lý Thực phẩm và Dược phẩm", "สำนักงานคณะกรรมการอาหารและยา",
     "Food and Drug Administration"),
    ("PHO-CMI", "MOPH", "provincial_office", "Sở Y tế Chiang Mai", "สำนักงานสาธารณสุขจังหวัดเชียงใหม่",
     "Chiang Mai Provincial Health Office"),
    ("PHO-KKN", "MOPH", "provincial_office", "Sở Y tế Khon Kaen", "สำนักงานสาธารณสุขจังหวัดขอนแก่น",
     "Khon Kaen Provincial Health Office"),
    ("PHO-SKA", "MOPH", "provincial_office", "Sở Y tế Songkhla", "สำนักงานสาธารณสุขจังหวัดสงขลา",
     "Songkhla Provincial Health Office"),
    ("PHO-PKT", "MOPH", "provincial_office", "Sở Y tế Phuket", "สำนักงานสาธารณสุขจังหวัดภูเก็ต",
     "Phuket Provincial Health Office"),
    ("BIDI", "DDC", "institute", "Viện Bệnh truyền nhiễm Bamrasnaradura", "สถาบันบำราศนราดูร",
     "Bamrasnaradura Infectious Diseases Institute"),
    ("HPC1", "DOH", "institute", "Trung tâm Nâng cao Sức khỏe Vùng 1", "ศูนย์อนามัยที่ 1 เชียงใหม่",
     "Health Promotion Centre Region 1"),
    ("NCI", "DMS", "institute", "Viện Ung thư Quốc gia", "สถาบันมะเร็งแห่งชาติ", "National Cancer Institute"),
    ("GPO", "FDA", "state_enterprise", "Tổ chức Dược phẩm Chính phủ", "องค์การเภสัชกรรม",
     "Government Pharmaceutical Organization"),
]

# email, display name, language, unit code, role
PEOPLE: list[tuple[str, str, str, str, str]] = [
    ("admin@demo.civicpulse.org", "Ananya Srisuk", "th", "MOPH", "admin"),
    ("approver@demo.civicpulse.org", "Nguyễn Minh Anh", "vi", "MOPH-PR", "approver"),
    ("analyst@demo.civicpulse.org", "Somchai Wongsawat", "th", "MOPH", "analyst"),
    ("editor.ddc@demo.civicpulse.org", "Pimchanok Rattana", "th", "DDC", "editor"),
    ("admin.ddc@demo.civicpulse.org", "Trần Thu Hà", "vi", "DDC", "admin"),
    ("viewer.cmi@demo.civicpulse.org", "Kittipong Chaiyasit", "th", "PHO-CMI", "viewer"),
    ("editor.cmi@demo.civicpulse.org", "Lê Văn Nam", "vi", "PHO-CMI", "editor"),
    ("editor.kkn@demo.civicpulse.org", "Sasithorn Boonmee", "th", "PHO-KKN", "editor"),
    ("officer@demo.civicpulse.org", "Daniel Hart", "en", "DOH", "viewer"),
]


def load_demo(db: Database, settings: Settings, progress: Any = None) -> list[tuple[str, str, str]]:
    """Creates the demo organisation once; later calls leave it as it is. Returns the sign-ins."""
    actor = Actor.system_actor("demo", via="cli")
    with db.session() as s:
        if s.scalar(select(Unit).where(Unit.code == "MOPH")) is None:
            ids: dict[str, int] = {}
            for code, parent, kind, vi, th, en in UNITS:
                u = services.create_unit(s, actor, UnitCreate(
                    code=code, parent_id=ids.get(parent) if parent else None, kind=kind,
                    names={"vi": vi, "th": th, "en": en}, timezone="Asia/Bangkok", default_language="th",
                    contact_email=f"pr@{code.lower()}.demo.civicpulse.org"))
                ids[code] = u.id
            for email, name, lang, unit, role in PEOPLE:
                if s.scalar(select(User).where(User.email == email)) is None:
                    services.create_user(s, actor, settings, UserCreate(
                        email=email, display_name=name, language=lang, password=DEMO_PASSWORD,  # type: ignore[arg-type]
                        roles=[RoleIn(unit_id=ids[unit], role=role, include_subtree=True)]))  # type: ignore[arg-type]
            if progress is not None:
                progress.print(f"Loaded the demo organisation: {len(UNITS)} units, {len(PEOPLE)} people.")
        elif progress is not None:
            progress.print("The demo organisation is already loaded.")
    for hook in DEMO_HOOKS:
        hook(db, settings, progress)
    return [(email, role, unit) for email, _n, _l, unit, role in PEOPLE]


def _area(path: str) -> Callable[[Database, Settings, Any], None]:
    """The loader ``module:function``, imported only when the demo runs (the CLI starts without every area)."""
    module, name = path.split(":")

    def load(db: Database, settings: Settings, progress: Any) -> None:
        getattr(importlib.import_module(module), name)(db, settings, progress)

    return load


# Areas add loaders here: (db, settings, progress) -> None, each idempotent, run in this order.
DEMO_HOOKS: list[Callable[[Database, Settings, Any], None]] = [_area(p) for p in (
    "civicpulse.demo_listening:load_demo_listening",
    "civicpulse.domain.plans.demo:load_demo_plans",
    "civicpulse.domain.alerts.claims.demo:load_demo_claims",
    "civicpulse.domain.alerts.demo:load_demo_alerts",
    "civicpulse.domain.campaigns.demo:load_demo_campaigns",
    "civicpulse.domain.publishing.demo:load_demo_publishing",
)]
