"""Attacks 13-18 of benchmarks/attacks.py: the findings of the attack on wave 2.

Each is a method of `HardeningAttacks`, which `attacks.Attacks` inherits; they
use its client, its direct database reads and its site (environment, runs).

  13 metadata on the server  /submit_metadata as JSON and multipart: 200 and
                             stored (it answered 500 on PostgreSQL once)
  14 unseen work             a Prolific submission the page never saw, recorded
                             by the recovery sweep, is paid by nothing automatic
                             (benchmarks/unseen_work.py, on this database)
  15 forged file records     a submission shaped like a stored one names no file;
                             metadata naming `files` is refused; a negative size
                             can't stretch the upload limit
  16 bonus amounts           `pay_bonus` with 1_000, Arabic-Indic and full-width
                             digits, 1e2, 40 digits: refused in words, nothing paid
  17 export escaping         formulas behind spaces, newlines and full-width forms
                             escaped in CSV; JSONL split by no line separator
  18 5,000 form fields       a JSON refusal, nothing stored
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import harness
from attacks_common import Outcome, multipart

BAD_AMOUNTS = ["1_000", "\u0665", "\uff15", "1e2", "1" * 40]
FORMULAS = ["\n=1+1", " =1+1", "\uff1d1+1", "\r\n+1", " \t@SUM(A1)"]
SEPARATORS = "a\u2028b\u2029c\x85d"


class HardeningAttacks:
    """Mixed into attacks.Attacks, which gives `site`, `c` (the HTTP client),
    `db` (direct reads), `runs` and `new_agent`."""

    # 13 -------------------------------------------------------------------
    def metadata_on_server(self):
        agent_id = self.new_agent()
        path = f"/submit_metadata?task_run_id={self.runs['plain']}"
        answers = [
            self.c.post(path, {"USED_AGENT_ID": agent_id, "metadata": {f"k{i}": i}})
            for i in range(20)
        ]
        for i in range(5):
            content_type, body = multipart(
                {"USED_AGENT_ID": agent_id, "metadata": json.dumps({f"m{i}": i})}, []
            )
            answers.append(self.c.post(path, body, content_type))
        stored = self.db.agent(agent_id)["metadata"] or {}
        failures = []
        ok = sum(a.status == 200 and a.is_json for a in answers)
        if ok != len(answers):
            bad = next(a for a in answers if a.status != 200)
            failures.append(f"{ok}/{len(answers)} answered 200: {bad.short()}")
        if len(stored) != 25:
            failures.append(f"{len(stored)} of 25 metadata keys stored")
        line = (
            f"20 JSON + 5 multipart /submit_metadata -> {ok} x 200; "
            f"{len(stored)}/25 keys stored"
        )
        return Outcome("13", "metadata on server", line, failures, summary=line)

    # 14 -------------------------------------------------------------------
    def unseen_work(self):
        script = Path(__file__).with_name("unseen_work.py")
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=harness.PROJECT_DIR,
            env=self.site.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        failures = []
        try:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            failures.append(f"the script failed: {done.stderr[-1500:]}")
            return Outcome("14", "unseen work", "no report", failures)
        if report["recorded"] != 1 or not report["marked"]:
            failures.append(f"recorded {report['recorded']}, marked {report['marked']}")
        # Auto-approval approves the other attacks' submissions meanwhile.
        if report["payments"] or report["agent_status"] != "completed":
            failures.append(
                f"paid: {report['payments']} payment rows, agent "
                f"{report['agent_status']}"
            )
        if report["on_prolific"] != "AWAITING REVIEW":
            failures.append(f"on Prolific it is {report['on_prolific']}")
        if not report["bulk_refused"]:
            failures.append("the bulk approval did not refuse it")
        line = (
            f"1 Prolific submission the page never saw -> recorded "
            f"{report['recorded']}, marked {report['marked']}; approve-all, "
            f"auto-approval (+30 days) and a bulk approval -> "
            f"{report['payments']} payments, still {report['on_prolific']} on "
            "Prolific"
        )
        summary = (
            f"marked {report['marked']}, {report['payments']} payments, "
            f"{report['on_prolific']}"
        )
        return Outcome("14", "unseen work", line, failures, summary=summary)

    # 15 -------------------------------------------------------------------
    def forged_file_records(self):
        run = self.runs["uploads-small"]
        limit = 5_000_000
        failures = []
        victim = self.new_agent("uploads-small")
        content_type, body = multipart(
            {"USED_AGENT_ID": victim, "final_data": '{"a": 1}'},
            [(b"victim.png", b"\x89PNG" + b"v" * 1000)],
        )
        self.c.post(f"/submit_task?task_run_id={run}", body, content_type)
        record = (self.db.agent(victim)["submission"] or {}).get("files", [None])[0]
        forger = self.new_agent("uploads-small")
        forged = {"final_data": {"a": 2}, "files": [record]}
        answer = self.c.post(
            f"/submit_task?task_run_id={run}",
            {"USED_AGENT_ID": forger, "final_data": forged},
        )
        stored = self.db.agent(forger)["submission"] or {}
        if record is None:
            failures.append("the victim's upload was not stored")
        if answer.status != 200 or stored.get("files") != []:
            failures.append(f"forged record: {answer.short()}, stored {stored!r:.200}")
        # A negative size in metadata, then 16 files of 1 MB against 5 MB.
        greedy = self.new_agent("uploads-small")
        negative = {**(record or {}), "size": -(10**9)}
        refused = self.c.post(
            f"/submit_metadata?task_run_id={run}",
            {"USED_AGENT_ID": greedy, "metadata": {"files": [negative]}},
        )
        answers = []
        for batch in range(4):
            content_type, body = multipart(
                {"USED_AGENT_ID": greedy, "metadata": json.dumps({"b": batch})},
                [(f"{batch}-{i}.png".encode(), b"g" * 1_000_000) for i in range(4)],
            )
            answers.append(
                self.c.post(f"/submit_metadata?task_run_id={run}", body, content_type)
            )
        kept = sum(
            p.stat().st_size
            for p in self.site.media_files()
            if "/agent-" in str(p) and self._agent_folder(greedy) in str(p)
        )
        if refused.status != 400 or not refused.is_json:
            failures.append(f"metadata naming files: {refused.short()}")
        if kept > limit:
            failures.append(f"{kept} bytes stored for one agent (limit {limit})")
        line = (
            f"forged record -> {answer.status}, files listed {stored.get('files')}; "
            f"metadata with a -1 GB file -> {refused.status}; 16 x 1 MB after it "
            f"-> {', '.join(str(a.status) for a in answers)}, {kept / 1e6:.1f} MB "
            f"stored (limit {limit / 1e6:.0f} MB)"
        )
        summary = (
            f"forged -> no file; -1 GB -> {refused.status}; {kept / 1e6:.1f} MB kept"
        )
        return Outcome("15", "forged file records", line, failures, summary=summary)

    def _agent_folder(self, public_id: str) -> str:
        pk = self.db.value(
            "SELECT id FROM tasks_app_agent WHERE public_id = %s", [public_id]
        )
        return f"/agent-{pk}/"

    # 16 -------------------------------------------------------------------
    def bonus_amounts(self):
        agent_id = self.new_agent()
        path, body = harness.submit_task(self.runs["plain"], agent_id, {"r": 1})
        self.c.post(path, body)
        unit = self.db.value(
            "SELECT unit_id FROM tasks_app_agent WHERE public_id = %s", [agent_id]
        )
        failures = []
        rows = []
        for amount in BAD_AMOUNTS:
            done = self.site.manage(
                "pay_bonus", "--unit", str(unit), "--amount", amount, "--reason", "x"
            )
            rows.append(done.returncode)
            if done.returncode == 0 or "Traceback" in done.stderr:
                failures.append(
                    f"{amount!r}: exit {done.returncode}: {done.stderr[-300:]}"
                )
        paid = self.db.value(
            "SELECT COUNT(*) FROM tasks_app_payment WHERE unit_id = %s", [unit]
        )
        if paid:
            failures.append(f"{paid} payment rows written")
        line = (
            f"pay_bonus with {', '.join(map(repr, BAD_AMOUNTS[:4]))}, 40 digits -> "
            f"exit {rows}; {paid} payment rows"
        )
        return Outcome("16", "bonus amounts", line, failures)

    # 17 -------------------------------------------------------------------
    def export_escaping(self):
        run = self.runs["export"]
        for i, text in enumerate([*FORMULAS, SEPARATORS]):
            agent_id = self.new_agent("export")
            self.c.post(*harness.submit_task(run, agent_id, {"answer": text, "i": i}))
        failures = []
        csv_out = self.site.manage(
            "export_results", "--run", str(run), "--format", "csv"
        ).stdout
        rows = list(csv.DictReader(io.StringIO(csv_out, newline="")))
        answers = [row.get("Answer.answer", "") for row in rows if row.get("Answer.i")]
        unescaped = [a for a in answers if a in FORMULAS]
        if unescaped:
            failures.append(f"unescaped in CSV: {unescaped!r}")
        jsonl = self.site.manage(
            "export_results", "--run", str(run), "--format", "jsonl"
        ).stdout
        lines = jsonl.splitlines()
        broken = 0
        for text in lines:
            try:
                json.loads(text)
            except ValueError:
                broken += 1
        if broken or len(lines) != len(jsonl.strip().split("\n")):
            failures.append(f"JSONL: {broken} of {len(lines)} lines don't parse")
        line = (
            f"{len(FORMULAS)} formulas behind spaces/newlines/full-width -> "
            f"{len(answers) - len(unescaped)}/{len(FORMULAS) + 1} escaped or plain; "
            f"JSONL with U+2028/2029/0085 -> {len(lines)} lines, {broken} broken"
        )
        return Outcome("17", "export escaping", line, failures)

    # 18 -------------------------------------------------------------------
    def many_form_fields(self):
        agent_id = self.new_agent()
        fields = {"USED_AGENT_ID": agent_id, "final_data": '{"a": 1}'}
        fields.update({f"f{i}": "x" for i in range(5000)})
        content_type, body = multipart(fields, [])
        answer = self.c.post(
            f"/submit_task?task_run_id={self.runs['plain']}", body, content_type
        )
        stored = self.db.agent(agent_id)["submission"]
        failures = []
        if answer.status not in (400, 413) or not answer.is_json:
            failures.append(f"5,000 fields: {answer.short()}")
        if stored is not None:
            failures.append("something was stored")
        line = (
            f"multipart with 5,000 fields -> {answer.status} "
            f"{'JSON' if answer.is_json else 'not JSON'}, "
            f"{'nothing' if stored is None else 'something'} stored"
        )
        return Outcome("18", "5,000 form fields", line, failures)
