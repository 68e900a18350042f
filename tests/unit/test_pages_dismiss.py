"""The dismiss dialog the worklist and HCP 360 share, driven as the browser drives it: a signed-in MSL's
POSTs to /_dash-update-component, answered by the real service on a copy of the tiny world."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from components.dismiss import DISMISS_REASONS, MAX_DETAILS_CHARS, dismissal
from components.formats import day
from engine.data.store import Store
from engine.service import NBAService
from tests.fixtures.web import callback_payload, sign_in, write_users_file
from tests.unit.test_service import V1, copy_settings
from tests.unit.test_service_fakes import table_bundle
from webapp import create_app
from webapp.inputs import InvalidInput


@pytest.fixture(scope="module")
def msl(world_settings, tmp_path_factory):
    """(client signed in as an MSL, the app's callback declarations, the service, three worklist items)."""
    tmp = tmp_path_factory.mktemp("dismiss")
    settings = copy_settings(world_settings, tmp)
    table_bundle(settings, seed=1, version=V1)
    service = NBAService.from_settings(settings, check_every_s=0)
    app = create_app(settings.with_(users_file=write_users_file(tmp / "users.json")), environ={}, service=service)
    client = app.server.test_client()
    sign_in(client, "msl")
    items = [{"hcp_id": a["hcp_id"], "content_id": a["content_id"], "channel": a["channel"], "title": a["title"],
              "hcp_name": a["name"]} for a in service.worklist("West")["actions"][:3]]
    assert len(items) == 3
    yield client, client.get("/_dash-dependencies").get_json(), service, items
    service.close()


def post(client, deps, output_id: str, values: dict, changed: str):
    """POST the callback writing ``output_id`` as the browser does (values: see ``callback_payload``)."""
    return client.post("/_dash-update-component", json=callback_payload(deps, output_id, values, changed))


def shown(children) -> list[str]:
    """The texts of the components a callback returned, as the browser receives them."""
    return [c["props"]["children"] for c in children]


def card(kind: str, position) -> str:
    return json.dumps({"index": position, "type": kind}, separators=(",", ":")) + ".n_clicks"


def stored_reasons(service, hcp_id: str) -> list[str]:
    rows = Store(service.settings.database_url).query(
        "SELECT reason FROM feedback WHERE hcp_id = ? AND action = 'dismiss'", [hcp_id])
    return list(rows["reason"])


def test_a_worklist_card_opens_the_dialog_on_its_item_and_cancel_closes_it(msl):
    client, deps, _, items = msl
    response = post(client, deps, "worklist-pending",
                    {"worklist-dismiss": {0: None, 1: 1, 2: None}, "worklist-items.data": items},
                    card("worklist-dismiss", 1))
    assert response.status_code == 200, response.get_data(as_text=True)
    out = response.get_json()["response"]
    assert out["worklist-dismiss-modal"] == {"is_open": True} and out["worklist-pending"] == {"data": 1}
    assert shown(out["worklist-dismiss-title"]["children"]) == [items[1]["title"], f"For {items[1]['hcp_name']}"]
    assert out["worklist-dismiss-reason"] == {"value": None} and out["worklist-dismiss-text"] == {"value": ""}

    closed = post(client, deps, "worklist-pending",
                  {"worklist-dismiss-cancel.n_clicks": 1, "worklist-items.data": items},
                  "worklist-dismiss-cancel.n_clicks").get_json()["response"]
    assert closed == {"worklist-dismiss-modal": {"is_open": False}, "worklist-pending": {"data": None}}

    need = post(client, deps, "worklist-dismiss-confirm", {"worklist-dismiss-reason.value": DISMISS_REASONS[3]},
                "worklist-dismiss-reason.value").get_json()["response"]
    assert need == {"worklist-dismiss-confirm": {"disabled": False}}


def test_the_worklist_stores_the_reason_with_its_details_once_confirmed(msl):
    client, deps, service, items = msl
    before = stored_reasons(service, items[2]["hcp_id"])
    response = post(client, deps, "worklist-toast", {
        "worklist-dismiss-confirm.n_clicks": 1, "worklist-items.data": items, "worklist-pending.data": 2,
        "worklist-dismiss-reason.value": "Timing not right", "worklist-dismiss-text.value": "after the <b>congress</b>",
        "worklist-answered.data": 0}, "worklist-dismiss-confirm.n_clicks")
    assert response.status_code == 200, response.get_data(as_text=True)
    out = response.get_json()["response"]
    until = day(pd.Timestamp(service.as_of()) + pd.Timedelta(days=service.settings.dismiss_days))
    said = f"Dismissed until {until}, the reason was recorded: “{items[2]['title']}”"
    assert out["worklist-toast"] == {"children": said, "is_open": True, "icon": "success"}
    assert out["worklist-answered"] == {"data": 1}
    assert out["worklist-dismiss-modal"] == {"is_open": False}
    assert stored_reasons(service, items[2]["hcp_id"]) == before + ["Timing not right: after the <b>congress</b>"]


@pytest.mark.parametrize("kind, position, said", [("worklist-accept", 0, "Accepted, planned for {today}"),
                                                   ("worklist-snooze", 1, "Snoozed until {week_on}")])
def test_accept_and_snooze_store_one_answer_for_the_card_clicked(msl, kind, position, said):
    client, deps, service, items = msl
    today = pd.Timestamp(service.as_of())
    said = said.format(today=day(today), week_on=day(today + pd.Timedelta(days=service.settings.snooze_days)))
    clicks = {i: (1 if i == position else None) for i in range(len(items))}
    response = post(client, deps, "worklist-toast", {kind: clicks, "worklist-items.data": items,
                                                     "worklist-answered.data": 4}, card(kind, position))
    assert response.status_code == 200, response.get_data(as_text=True)
    out = response.get_json()["response"]
    assert out["worklist-toast"]["children"] == f"{said}: “{items[position]['title']}”"
    assert out["worklist-answered"] == {"data": 5}
    item = items[position]
    rows = Store(service.settings.database_url).query(
        "SELECT action, channel FROM feedback WHERE hcp_id = ? AND content_id = ?",
        [item["hcp_id"], item["content_id"]])
    assert rows.to_dict("records") == [{"action": kind.split("-")[1], "channel": item["channel"]}]


@pytest.mark.parametrize("values, changed, error", [
    ({"worklist-dismiss-confirm.n_clicks": 1, "worklist-pending.data": 0, "worklist-dismiss-reason.value": "Because"},
     "worklist-dismiss-confirm.n_clicks", "worklist-dismiss-reason.value: not one of the offered reasons"),
    ({"worklist-dismiss-confirm.n_clicks": 1, "worklist-pending.data": 3, "worklist-dismiss-reason.value": "Other"},
     "worklist-dismiss-confirm.n_clicks", "worklist-pending.data: expected a position from 0 to 2"),
    ({"worklist-dismiss-confirm.n_clicks": 1, "worklist-pending.data": 0, "worklist-dismiss-reason.value": "Other",
      "worklist-dismiss-text.value": "x" * (MAX_DETAILS_CHARS + 1)},
     "worklist-dismiss-confirm.n_clicks",
     f"worklist-dismiss-text.value: text longer than {MAX_DETAILS_CHARS} characters ({MAX_DETAILS_CHARS + 1})"),
    ({"worklist-accept": {"0": None, "1": 1}}, card("worklist-accept", "1"),  # a position sent as text
     "worklist-accept.index: expected a position from 0 to 2"),
])
def test_the_worklist_refuses_what_it_did_not_offer_and_stores_nothing(msl, values, changed, error):
    client, deps, service, items = msl
    count = Store(service.settings.database_url).count("feedback")
    response = post(client, deps, "worklist-toast", {"worklist-items.data": items, **values}, changed)
    assert response.status_code == 400 and response.get_json() == {"error": error}
    assert Store(service.settings.database_url).count("feedback") == count


def test_hcp_360_uses_the_same_dialog_under_its_own_ids(msl):
    client, deps, _, items = msl
    mine = [{k: i[k] for k in ("content_id", "channel", "title")} for i in items]  # one HCP's: no name to say
    out = post(client, deps, "hcp360-pending", {"hcp360-dismiss": {0: 1}, "hcp360-items.data": mine},
               card("hcp360-dismiss", 0)).get_json()["response"]
    assert out["hcp360-pending"] == {"data": 0} and shown(out["hcp360-dismiss-title"]["children"]) == [mine[0]["title"]]


def test_dismissal_is_the_position_and_the_stored_reason_or_none_until_both_are_there():
    assert dismissal("p", None, "Other", "", 3) is None and dismissal("p", 1, None, "", 3) is None
    assert dismissal("p", 1, "Other", "", 3) == (1, "Other")
    assert dismissal("p", 2, "Content outdated", "2023 data", 3) == (2, "Content outdated: 2023 data")
    with pytest.raises(InvalidInput, match="p-pending.data: expected a position from 0 to 2"):
        dismissal("p", True, "Other", "", 3)
