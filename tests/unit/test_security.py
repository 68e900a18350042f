"""Security headers, the request guard and server-side admin enforcement."""
from __future__ import annotations

import dash
import pytest

from tests.fixtures.web import AdminRecorder, sign_in, sign_out, write_users_file
from webapp import create_app
from webapp.access import callback_roles, check_declarations


def admin_action_payload(client) -> dict:
    """The browser's request body for the Admin page's reload confirmation, built from /_dash-dependencies."""
    deps = client.get("/_dash-dependencies").get_json()
    spec = next(d for d in deps if "admin-action-result" in d["output"])
    outputs = []
    for part in spec["output"].strip(".").split("..."):
        cid, prop = part.split("@")[0].rsplit(".", 1)
        outputs.append({"id": cid, "property": prop})
    inputs = [{"id": i["id"], "property": i["property"], "value": 1 if i["id"] == "admin-confirm-reload" else None} for i in spec["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": "v2"} for s in spec["state"]]
    return {"output": spec["output"], "outputs": outputs, "inputs": inputs, "state": state, "changedPropIds": ["admin-confirm-reload.submit_n_clicks"]}


def test_security_headers_on_pages_and_login(client):
    for response in (client.get("/login"), client.get("/assets/10_app.css")):
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    sign_in(client, "admin")
    assert client.get("/_dash-layout").headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_secure_cookie_and_hsts_when_https_is_configured(settings, tmp_path):
    users = write_users_file(tmp_path / "users.json")
    app = create_app(settings.with_(users_file=users), environ={"SESSION_COOKIE_SECURE": "1"}, service=AdminRecorder())
    client = app.server.test_client()
    assert "Strict-Transport-Security" in client.get("/login").headers
    assert "Secure" in sign_in(client, "admin").headers["Set-Cookie"]


def test_admin_callback_runs_for_admin(client, service):
    sign_in(client, "admin")
    response = client.post("/_dash-update-component", json=admin_action_payload(client))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert service.version == "v2"
    body = response.get_data(as_text=True)
    assert "admin-served-version" in body and "Model v2" in body
    assert [a["action"] for a in service.audit] == ["reload"]


@pytest.mark.parametrize("user", ["msl", "brand"])
def test_admin_callback_refused_for_other_roles_and_nothing_changes(client, service, user):
    sign_in(client, "admin")
    payload = admin_action_payload(client)
    sign_out(client)
    sign_in(client, user)
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 403
    assert response.get_json() == {"error": "admin role required"}
    assert service.version == "v1" and service.audit == []


def test_admin_page_refused_for_other_roles(client):
    sign_in(client, "msl")
    response = client.get("/admin")
    assert response.status_code == 403
    assert "Admins only" in response.get_data(as_text=True)
    # The navbar of a non-admin has no Admin link; an admin's has.
    assert "nav-admin" not in client.get("/_dash-layout").get_data(as_text=True)
    sign_out(client)
    sign_in(client, "admin")
    assert client.get("/admin").status_code == 200
    assert "nav-admin" in client.get("/_dash-layout").get_data(as_text=True)


def test_dispatch_accepts_json_only(client):
    sign_in(client, "admin")
    response = client.post("/_dash-update-component", data="output=admin-x.children", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def dispatch_payload(client, output_id: str) -> dict:
    """The browser's request body for the callback writing ``output_id`` (inputs left empty)."""
    spec = next(d for d in client.get("/_dash-dependencies").get_json() if output_id in d["output"])
    cid, prop = spec["output"].split("@")[0].rsplit(".", 1)
    inputs = [{"id": i["id"], "property": i["property"], "value": 1} for i in spec["inputs"]]
    return {"output": spec["output"], "outputs": {"id": cid, "property": prop}, "inputs": inputs,
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in spec["inputs"]]}


def test_a_page_declared_with_roles_is_refused_server_side_to_another_role(client):
    """/feedback declares roles=("brand_manager", "admin") where it registers, and nowhere else."""
    sign_in(client, "msl")
    response = client.get("/feedback")
    assert response.status_code == 403 and "Brand managers and admins only" in response.get_data(as_text=True)
    payload = dispatch_payload(client, "feedback-report")
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 403
    assert response.get_json() == {"error": "brand_manager or admin role required"}
    assert "nav-feedback" not in client.get("/_dash-layout").get_data(as_text=True)
    sign_out(client)
    sign_in(client, "brand")
    assert client.get("/feedback").status_code == 200
    assert "nav-feedback" in client.get("/_dash-layout").get_data(as_text=True)
    assert client.get("/admin").status_code == 403


def test_every_callback_of_a_page_carries_the_roles_the_page_declares(app):
    expected = {"pages.admin": ("admin",), "pages.feedback": ("brand_manager", "admin")}
    seen = {}
    for callback in app.callback_map.values():
        if "callback" not in callback:  # clientside: runs in the browser, never dispatched
            continue
        module = callback["callback"].__module__
        seen.setdefault(module, set()).add(callback_roles(callback))
    assert {m: seen[m] for m in expected} == {m: {roles} for m, roles in expected.items()}
    assert seen["pages.worklist"] == {None} and seen["webapp.layout"] == {None}
    # the dismiss dialog's callbacks, registered by components.dismiss, carry the roles of their page
    dialog = {c["callback"].__module__ for key, c in app.callback_map.items() if "-dismiss-confirm.disabled" in key}
    assert dialog == {"pages.worklist", "pages.hcp_360"}


def test_a_page_declaring_an_unknown_role_stops_the_start(app, monkeypatch):
    monkeypatch.setitem(dash.page_registry["pages.feedback"], "roles", ("brand_manger",))
    with pytest.raises(ValueError, match="pages.feedback declares roles"):
        check_declarations()
