"""``manage.py namespace tree``, ``manage.py namespace files upload|list|download|delete`` and
``manage.py namespace allowed list|add|remove|set``.

``tree`` shows namespaces with their flow counts; ``files`` manages the files a namespace
holds (read by ``read('path')`` in expressions and by script tasks with ``namespaceFiles``);
``allowed`` manages which other namespaces' flows may reach a namespace (issue 21).
Only translates arguments and calls services; invalid input exits with status 1.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from flows.cli.base import plural
from flows.selectors import namespace_tree
from namespaces import allowed, services
from namespaces.boundaries import ancestors
from namespaces.services import NamespaceFileError, NamespaceFileNotFound


class Command(BaseCommand):
    help = "Show namespaces and manage their files."

    def add_arguments(self, parser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        subparsers.add_parser("tree", help="namespaces as a tree: own flows / flows inside")
        files = subparsers.add_parser("files", help="a namespace's files")
        actions = files.add_subparsers(dest="action", metavar="ACTION", required=True)
        upload = actions.add_parser(
            "upload",
            help="upload files or folders (folders recursively; hidden names skipped)",
            description="Print 'uploaded PATH (N bytes)' per file. Nothing is uploaded if a "
            "target path is refused.",
        )
        upload.add_argument("namespace", metavar="NAMESPACE")
        upload.add_argument("sources", nargs="+", metavar="LOCAL_PATH")
        upload.add_argument(
            "--to", default="/", metavar="PATH",
            help="target folder (or, for a single file, the target file path if it does not "
            "end with '/'); default: the namespace's top folder",
        )  # fmt: skip
        listing = actions.add_parser("list", help="what a folder holds")
        listing.add_argument("namespace", metavar="NAMESPACE")
        listing.add_argument("path", nargs="?", default="/", metavar="PATH")
        listing.add_argument("--recursive", "-r", action="store_true", help="every level")
        download = actions.add_parser("download", help="a file's content")
        download.add_argument("namespace", metavar="NAMESPACE")
        download.add_argument("path", metavar="PATH")
        download.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
        delete = actions.add_parser("delete", help="delete a file, or a folder and its files")
        delete.add_argument("namespace", metavar="NAMESPACE")
        delete.add_argument("path", metavar="PATH")
        policy = subparsers.add_parser(
            "allowed",
            help="which other namespaces' flows may reach a namespace",
            description="Flows of a listed namespace (and of those inside it; '*' for all) may "
            "read and write this namespace's KV store, read its files, start its flows as "
            "subflows and trigger on its executions. Its own tree always may.",
        )
        policy_actions = policy.add_subparsers(dest="action", metavar="ACTION", required=True)
        listed = policy_actions.add_parser("list", help="the entries, with inherited ones")
        listed.add_argument("namespace", metavar="NAMESPACE")
        for name, text in (("add", "allow these namespaces"), ("remove", "remove entries"),
                           ("set", "replace the whole list (none: empty it)")):  # fmt: skip
            action = policy_actions.add_parser(name, help=text)
            action.add_argument("namespace", metavar="NAMESPACE")
            action.add_argument("allowed", nargs="*" if name == "set" else "+",
                                metavar="ALLOWED")  # fmt: skip

    def handle(self, *args, **options) -> None:
        if options["subcommand"] == "tree":
            self._tree()
            return
        if options["subcommand"] == "allowed":
            self._allowed(options)
            return

        try:
            getattr(self, f"_files_{options['action']}")(options)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise CommandError(str(exc), returncode=1) from exc

    def _tree(self) -> None:
        # The tree counts flows, which are flows' business; imported here, not at the top,
        # because flows imports namespaces (its Flow points at namespaces.Namespace).

        roots = namespace_tree()
        if not roots:
            self.stdout.write("no namespaces")
        for root in roots:
            for node in root.walk():
                self.stdout.write(
                    f"{'  ' * node.depth}{node.name}  "
                    f"({plural(node.flow_count, 'flow')}, {node.total_flow_count} in total)"
                )

    # --------------------------------------------------------------------------- allowed

    def _allowed(self, options: dict) -> None:
        namespace, action = options["namespace"], options["action"]
        try:
            with transaction.atomic():  # every entry is checked before any is written
                if action == "add":
                    for entry in options["allowed"]:
                        added = allowed.allowed_namespace_add(namespace=namespace, allowed=entry)
                        self.stdout.write(f"{'allowed' if added else 'already allowed'} {entry}")
                elif action == "remove":
                    for entry in options["allowed"]:
                        gone = allowed.allowed_namespace_remove(namespace=namespace, allowed=entry)
                        if not gone:
                            raise allowed.AllowedNamespaceError(
                                f"namespace {namespace!r} does not list {entry!r}"
                            )
                        self.stdout.write(f"removed {entry}")
                elif action == "set":
                    allowed.allowed_namespaces_set(namespace=namespace, allowed=options["allowed"])
            entries = allowed.allowed_namespaces_list(namespace)
            inherited = [(p, allowed.allowed_namespaces_list(p)) for p in ancestors(namespace)[:-1]]
        except allowed.AllowedNamespaceError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if action in ("list", "set"):
            self.stdout.write(
                f"{namespace}: its own tree, and "
                + (", ".join(entries) if entries else "no other namespace")
            )
            for parent, names in inherited:
                if names:
                    self.stdout.write(f"  from {parent}: {', '.join(names)}")

    # ----------------------------------------------------------------------------- files

    def _files_upload(self, options: dict) -> None:
        plan = _upload_plan([Path(p) for p in options["sources"]], options["to"])
        for _, target in plan:  # every target checked before anything is written
            services.nsfile_check(options["namespace"], target)
        with transaction.atomic():
            for local, target in plan:
                with local.open("rb") as content:
                    row = services.nsfile_put(
                        namespace=options["namespace"], path=target, data=content
                    )
                self.stdout.write(f"uploaded {row.path} ({row.size} bytes)")

    def _files_list(self, options: dict) -> None:
        rows = services.nsfile_list(
            options["namespace"], options["path"], recursive=options["recursive"]
        )
        if not rows:
            self.stdout.write("no files")
        for row in rows:
            if row.is_directory:
                self.stdout.write(f"{row.path}/")
            else:
                self.stdout.write(f"{row.path}  {row.size} bytes  {row.updated_at:%Y-%m-%d %H:%M}")

    def _files_download(self, options: dict) -> None:
        data = services.nsfile_read(options["namespace"], options["path"])
        if options["output"]:
            options["output"].write_bytes(data)
            self.stdout.write(f"wrote {len(data)} bytes to {options['output']}")
        else:
            self.stdout.write(data.decode("utf-8", errors="replace"), ending="")

    def _files_delete(self, options: dict) -> None:
        count = services.nsfile_delete(namespace=options["namespace"], path=options["path"])
        self.stdout.write(f"deleted {options['path']} ({count} file(s))")


def _upload_plan(sources: list[Path], to: str) -> list[tuple[Path, str]]:
    """(local file, target path) pairs: a folder's files keep their relative paths under
    ``to``; a single file goes to ``to`` itself unless ``to`` ends with ``/``."""

    plan: list[tuple[Path, str]] = []
    folder = to.rstrip("/") or ""
    for source in sources:
        if source.is_dir():
            for local in sorted(source.rglob("*")):
                relative = local.relative_to(source)
                if local.is_file() and not any(p.startswith(".") for p in relative.parts):
                    plan.append((local, f"{folder}/{relative.as_posix()}"))
        elif source.is_file():
            single = len(sources) == 1 and not to.endswith("/")
            plan.append((source, to if single else f"{folder}/{source.name}"))
        else:
            raise NamespaceFileError(f"{source}: no such file or folder")
    if not plan:
        raise NamespaceFileError("nothing to upload")
    return plan
