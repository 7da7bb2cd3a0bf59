"""A bundle deploy's file sync against the workspace: only what changed is uploaded again, what the bundle's
.gitignore and ``sync.exclude`` leave out never is, and a file no longer selected is deleted there."""

from __future__ import annotations

from odoolake.bundles.deploy import deploy
from odoolake.bundles.loader import load_bundle


def test_a_deploy_uploads_only_the_files_that_changed_and_follows_the_sync_rules(w, server, tmp_path):
    (tmp_path / "databricks.yml").write_text(f"""bundle: {{name: synced_files}}
sync:
  exclude: [notes/**]
targets:
  local: {{default: true, workspace: {{host: {server.url}}}}}
""")
    (tmp_path / ".gitignore").write_text("*.log\n")
    for rel, text in {"src/a.py": "print('a')\n", "src/b.sql": "SELECT 1\n", "src/run.log": "ignored",
                      "notes/todo.md": "excluded", "lib/pkg.whl": "any type"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def bundle():
        return load_bundle(tmp_path, "local", user="tester@example.ph", env={})

    first = deploy(w, bundle())
    files = bundle().config["workspace"]["file_path"]
    assert (first.files, first.unchanged_files) == (4, 0)  # databricks.yml, src/a.py, src/b.sql, lib/pkg.whl

    def listed(folder: str) -> set[str]:
        return {o.path.rsplit("/", 1)[1] for o in w.workspace.list(f"{files}/{folder}")}

    assert listed("src") == {"a.py", "b.sql"} and listed("lib") == {"pkg.whl"}
    assert "notes" not in listed("")

    again = deploy(w, bundle())
    assert (again.files, again.unchanged_files) == (0, 4)  # nothing changed: nothing uploaded

    (tmp_path / "src" / "a.py").write_text("print('changed')\n")
    (tmp_path / "src" / "b.sql").unlink()
    changed = deploy(w, bundle())
    assert (changed.files, changed.unchanged_files) == (1, 2)
    assert w.workspace.download(f"{files}/src/a.py").read() == b"print('changed')\n"
    assert listed("src") == {"a.py"}  # removed from the bundle: deleted there
