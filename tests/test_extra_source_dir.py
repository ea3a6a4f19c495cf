"""GET /task/<run>/<path>: files of the run's `extra_source_dir`, beside the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.utils.http import http_date

from tasks_app.models import TaskRun
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db

# The smallest PNG there is: one transparent pixel.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def run_with_files(folder: Path, *, provider_type: str = "mock", **extra) -> TaskRun:
    """A run whose extra_source_dir is `folder/static`, holding a few files."""
    static = folder / "static"
    (static / "img").mkdir(parents=True)
    (static / "preview.png").write_bytes(PIXEL)
    (static / "img" / "cat.png").write_bytes(PIXEL)
    (static / "chunk-1.js").write_text("export const answer = 42;\n")
    (static / "style.css").write_text("body { color: teal; }\n")
    (static / "notes.html").write_text("<script>alert(1)</script>")
    (static / "drawing.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    blueprint = {"task_source": str(folder / "bundle.js"), **extra}
    blueprint.setdefault("extra_source_dir", str(static))
    return TaskRunFactory(
        provider_type=provider_type,
        resolved_config={"mephisto": {"blueprint": blueprint}, "task_dir": str(folder)},
    )


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def assert_plain_404(response, *words: str) -> None:
    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    for word in words:
        assert word in response.text


def test_a_file_of_the_extra_source_dir_is_served_next_to_the_page(client, tmp_path):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/preview.png")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PIXEL
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-cache"
    assert response["Content-Security-Policy"] == "frame-ancestors *"


def test_files_in_subfolders_are_served_at_their_relative_path(client, tmp_path):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/img/cat.png")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PIXEL


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("chunk-1.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
    ],
)
def test_scripts_and_styles_get_the_types_a_browser_accepts_under_nosniff(
    client, tmp_path, name, content_type
):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/{name}")

    assert response["Content-Type"] == content_type
    assert "sandbox" not in response["Content-Security-Policy"]


def test_a_file_of_an_unknown_type_is_served_as_bytes(client, tmp_path):
    run = run_with_files(tmp_path)
    (tmp_path / "static" / "model.weights").write_bytes(b"\x00\x01")

    response = client.get(f"/task/{run.pk}/model.weights")

    assert response["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("notes.html", "text/html; charset=utf-8"),
        ("drawing.svg", "image/svg+xml; charset=utf-8"),
    ],
)
def test_html_and_svg_are_sandboxed_so_they_never_run_as_this_site(
    client, tmp_path, name, content_type
):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/{name}")

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Security-Policy"] == "sandbox; frame-ancestors *"


@pytest.mark.parametrize(
    ("provider", "ancestors"),
    [
        ("mturk", "'self' https://worker.mturk.com https://www.mturk.com"),
        ("prolific", "'self'"),
    ],
)
def test_a_file_may_be_framed_by_the_task_page_inside_its_providers_frame(
    client, tmp_path, provider, ancestors
):
    run = run_with_files(tmp_path, provider_type=provider)

    response = client.get(f"/task/{run.pk}/notes.html")

    assert (
        response["Content-Security-Policy"] == f"sandbox; frame-ancestors {ancestors}"
    )
    assert "X-Frame-Options" not in response


def test_a_relative_extra_source_dir_is_the_task_folders(client, tmp_path):
    run = run_with_files(tmp_path, extra_source_dir="static")

    response = client.get(f"/task/{run.pk}/img/cat.png")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "../bundle.js",
        "img/../../bundle.js",
        "%2e%2e/bundle.js",
        "img/%2E%2E/%2e%2e/bundle.js",
        "./preview.png",
    ],
)
def test_dot_segments_are_refused_with_a_404_that_says_why(client, tmp_path, path):
    run = run_with_files(tmp_path)
    (tmp_path / "bundle.js").write_text("secret")

    response = client.get(f"/task/{run.pk}/{path}")

    assert_plain_404(response, "is not served", "'..' parts")


def test_an_absolute_path_is_refused(client, tmp_path):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}//etc/passwd")

    assert_plain_404(response, "absolute paths are not served")


def test_hidden_files_are_not_served(client, tmp_path):
    run = run_with_files(tmp_path)
    (tmp_path / "static" / ".env").write_text("SECRET_KEY=x")

    response = client.get(f"/task/{run.pk}/.env")

    assert_plain_404(response, "hidden files")
    assert "SECRET_KEY" not in response.text


def test_a_symbolic_link_out_of_the_folder_is_refused(client, tmp_path):
    run = run_with_files(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the requester's notes")
    (tmp_path / "static" / "notes.txt").symlink_to(secret)
    (tmp_path / "static" / "up").symlink_to(tmp_path)

    by_file = client.get(f"/task/{run.pk}/notes.txt")
    by_folder = client.get(f"/task/{run.pk}/up/secret.txt")

    assert_plain_404(by_file, "leads outside the extra_source_dir")
    assert_plain_404(by_folder, "leads outside the extra_source_dir")


def test_a_symbolic_link_inside_the_folder_is_followed(client, tmp_path):
    run = run_with_files(tmp_path)
    (tmp_path / "static" / "logo.png").symlink_to(tmp_path / "static" / "preview.png")

    response = client.get(f"/task/{run.pk}/logo.png")

    assert response.status_code == 200


def test_a_missing_file_is_a_404_that_says_so(client, tmp_path):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/img/dog.png")

    assert_plain_404(
        response, f"task run {run.pk} has no file 'img/dog.png'", "extra_source_dir"
    )
    assert str(tmp_path) not in response.text


def test_a_folder_is_not_listed(client, tmp_path):
    run = run_with_files(tmp_path)

    response = client.get(f"/task/{run.pk}/img")

    assert_plain_404(response, "is a folder; folders are not listed")


def test_a_run_without_extra_source_dir_serves_no_files(client, tmp_path):
    run = TaskRunFactory(resolved_config={"mephisto": {"blueprint": {}}})

    response = client.get(f"/task/{run.pk}/preview.png")

    assert_plain_404(response, "mephisto.blueprint.extra_source_dir is not set")


def test_an_extra_source_dir_gone_from_disk_is_a_404_that_says_so(client, tmp_path):
    run = run_with_files(tmp_path, extra_source_dir=str(tmp_path / "gone"))

    response = client.get(f"/task/{run.pk}/preview.png")

    assert_plain_404(response, "is not a folder on this server")


def test_files_of_an_unknown_run_are_a_404(client):
    assert_plain_404(client.get("/task/99999999/preview.png"), "no task run 99999999")


def test_the_page_scripts_win_over_files_of_the_same_name(client, tmp_path):
    run = run_with_files(tmp_path)
    (tmp_path / "bundle.js").write_text("console.log('the task source');\n")
    static = tmp_path / "static"
    (static / "bundle.js").write_text("console.log('a stale copy');\n")
    (static / "wrap_crowd_source.js").write_text("console.log('a stale copy');\n")

    bundle = client.get(f"/task/{run.pk}/bundle.js")
    wrap = client.get(f"/task/{run.pk}/wrap_crowd_source.js")

    assert bundle.content == b"console.log('the task source');\n"
    assert b"function getWorkerName(" in wrap.content


def test_an_unchanged_file_answers_304(client, tmp_path):
    run = run_with_files(tmp_path)
    modified = int((tmp_path / "static" / "preview.png").stat().st_mtime)

    response = client.get(
        f"/task/{run.pk}/preview.png",
        headers={"If-Modified-Since": http_date(modified)},
    )

    assert response.status_code == 304
    assert response["Last-Modified"] == http_date(modified)


def test_files_are_read_only(client, tmp_path):
    run = run_with_files(tmp_path)

    assert client.post(f"/task/{run.pk}/preview.png").status_code == 405
    assert client.head(f"/task/{run.pk}/preview.png").status_code == 200
