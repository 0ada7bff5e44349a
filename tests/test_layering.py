"""Who may import whom (DESIGN.md, "Layering"), read from the source rather than trusted: the backend
imports no page layer (frontend/, designer/) except in its assembly, backend/app.py; the engine
imports none of backend/, frontend/, designer/; and nothing registers error messages or statuses
at import (backend/i18n.py reads one registry, backend/errors.py holds one status table)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in the file, at any depth (a lazy import in a
    function counts), and of every importlib.import_module("...") with a literal name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def _violations(package: str, forbidden: set[str], allowed: set[str] = frozenset()) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed:
            continue
        out += [f"{rel}:{line} imports {name}" for line, name in _imported_packages(path) if name in forbidden]
    return out


class TestLayering:
    def test_the_backend_imports_no_page_layer_outside_its_assembly(self):
        assert _violations("backend", {"frontend", "designer"}, allowed={"backend/app.py"}) == []

    def test_the_engine_imports_no_other_layer(self):
        assert _violations("engine", {"backend", "frontend", "designer"}) == []

    def test_the_scan_sees_a_lazy_import(self, tmp_path):
        module = tmp_path / "m.py"
        module.write_text("def f():\n    from frontend.templating import render\n    return render\n")
        assert (2, "frontend") in _imported_packages(module)


def _module_level_mutations(path: Path, names: set[str]) -> list[str]:
    """Statements run at import that change one of `names` (X.update(...), X[k] = v) or call
    register_error_messages: what the one registry replaced."""
    out = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in names):
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == \
                    "register_error_messages":
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Name) and node.value.id in names:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


class TestNoImportTimeRegistration:
    @pytest.mark.parametrize("package", ["backend", "frontend", "designer"])
    def test_no_module_adds_messages_or_statuses_when_imported(self, package):
        names = {"ERROR_MESSAGES", "STATUS_BY_CODE"}
        found = [hit for path in sorted((ROOT / package).rglob("*.py")) for hit in _module_level_mutations(path, names)]
        assert found == []

    def test_every_message_module_of_the_registry_holds_a_plain_table(self):
        import importlib

        from backend import i18n

        for name in i18n.ERROR_MESSAGE_MODULES:
            table = importlib.import_module(name).ERROR_MESSAGES
            assert table and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()), name

    def test_no_code_is_defined_twice(self):
        import importlib

        from backend import i18n

        seen: dict[str, str] = {code: "backend.i18n" for code in i18n.ERROR_MESSAGES}
        twice = []
        for name in i18n.ERROR_MESSAGE_MODULES:
            for code in importlib.import_module(name).ERROR_MESSAGES:
                if code in seen:
                    twice.append(f"{code}: {seen[code]} and {name}")
                seen[code] = name
        assert twice == []
