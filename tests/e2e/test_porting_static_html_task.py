"""Porting a Mephisto static HTML task (docs/porting-a-mephisto-task.md): the
task in tests/e2e/static_html_app/, a template in Mephisto's style (fields
without a form, `${...}` from the data row and `${provider_worker_id}`, its own
script, a relative picture URL into extra_source_dir, a file input), launched
with `launch_run --config` from its config as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks_app.models import Agent, AgentStatus, UnitStatus
from tests.e2e.pages import loaded_picture, task_url

pytestmark = pytest.mark.django_db(transaction=True)

APP = Path(__file__).resolve().parent / "static_html_app"
CONFIG = APP / "hydra_configs" / "conf" / "example.yaml"
HEADLINE = "Boats crowd the harbour <b>as</b> the storm nears"


@pytest.fixture
def run(launch_config):
    return launch_config(CONFIG)


def test_a_worker_answers_the_template_attaches_a_file_and_submits(
    page, screenshot, live_server, run, traffic, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    note = tmp_path / "notes.txt"
    note.write_text("the boats are moored\n")

    page.goto(task_url(live_server, run, "hana"))
    frame = page.frame_locator("#crowdsite-frame")
    frame.locator("#fit").select_option("good")
    frame.locator("#comment").fill("Boats, harbour.")
    frame.locator("#upload_files_1").set_input_files(str(note))
    picture = frame.locator("#picture")
    loaded_picture(picture)
    screenshot("task")
    # The row's value is text, the template variable is filled, the script ran.
    assert frame.locator("#headline").inner_text() == HEADLINE
    assert frame.locator("#headline b").count() == 0
    assert frame.locator("#worker_id").inner_text() == "hana"
    assert frame.locator("#comment-length").inner_text() == "15"
    # "harbour.png" from the row resolves to the run's extra_source_dir file.
    assert picture.evaluate("(img) => img.currentSrc") == (
        f"{live_server.url}/task/{run.pk}/harbour.png"
    )
    assert picture.evaluate("(img) => img.naturalWidth") == 4
    # The page supplied the form and the button Mephisto's page has.
    frame.locator("#html-task-submit-button").click()
    page.locator("#crowdsite-thanks").wait_for()

    agent = Agent.objects.select_related("unit").get(worker__worker_name="hana")
    assert agent.status == AgentStatus.COMPLETED
    assert agent.unit.status == UnitStatus.COMPLETED
    row = {"headline": HEADLINE, "picture": "harbour.png"}
    assert agent.unit.assignment.data == row
    fields = agent.submission["final_data"]
    # The browser's description of the file; when it was modified is the disk's.
    assert isinstance(fields["file1"].pop("lastModified"), int)
    assert fields == {
        "fit": "good",
        "comment": "Boats, harbour.",
        "file1": {"name": "notes.txt", "size": 21, "type": "text/plain"},
    }
    [stored] = agent.submission["files"]
    assert stored["name"] == "notes.txt"
    assert (settings.MEDIA_ROOT / stored["path"]).read_text() == (
        "the boats are moored\n"
    )
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []


def test_the_preview_template_shows_its_picture_without_a_submit(
    page, screenshot, live_server, run, traffic
):
    page.goto(task_url(live_server, run, None))
    frame = page.frame_locator("#crowdsite-frame")
    picture = frame.locator("#preview-picture")
    loaded_picture(picture)
    screenshot("preview")

    assert picture.evaluate("(img) => img.naturalWidth") == 4
    assert frame.locator("button, form").count() == 0
    assert page.evaluate("location.pathname") == "/"
    assert not Agent.objects.exists()
    assert traffic["console"] == []
