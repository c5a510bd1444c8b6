from tests.conftest import login


def test_login_and_pages(client, org):
    login(client, org.email("root-admin"))
    for path in ["/", "/units", "/users", "/audit", "/tokens"]:
        assert client.get(path).status_code == 200, path


def test_api_units_with_token(client, org, token_for):
    tok = token_for(org.users["viewer@A"], scopes=("read",))
    r = client.get("/api/v1/units", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    codes = {u["code"] for u in r.json()["items"]}
    assert codes == {"A", "A1"}
