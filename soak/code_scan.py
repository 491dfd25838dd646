"""A static check of the repository's own code for what must never run or be logged.

Read with `ast`, never imported. A finding is a file, a line and a rule:

- `eval`, `exec`: code from data;
- pickle loads (`pickle`, `cPickle`, `_pickle`, `joblib`, `dill`, `cloudpickle`: `load`,
  `loads`, `Unpickler`), `pandas.read_pickle`, and any call with `allow_pickle=True`;
- `yaml.load`, `yaml.unsafe_load`, `yaml.full_load` (`yaml.safe_load` is the one to use);
- `shell=` other than the constant `False` in any call; `os.system`, `os.popen`,
  `subprocess.getoutput`, `subprocess.getstatusoutput` (all through a shell);
- a log call that is handed a request body or a credential. A log call is a call of a
  logging method (`debug` … `critical`, `exception`, `log`, and `functions.logs`' `emit`,
  `request`) on a module or logger named `logging`, `logs`, `log`, `logger` or `_logger`,
  and, in the served code (functions/, main.py), `print`: stdout is Cloud Logging there.
  Handed a body: anything in its arguments reads `.data`, `.body`, `.get_data`,
  `.get_json`, `.json`, `.stream`, `.form`, `.files` or `.content`. Handed a credential: a
  name, attribute or keyword in its arguments, or a key looked up in them (`x["..."]`,
  `x.get("...")`), says token, password, passwd, secret, credential, authorization,
  api_key, apikey, private_key or cookie; or a whole `.headers` mapping is one of its
  arguments (it carries `Authorization`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository's own code; tests and the virtual environments are not shipped.
SCANNED = ("functions", "model", "infra", "mlctl", "bench", "soak", "main.py")
SERVED = ("functions", "main.py")

_PICKLERS = {"pickle", "cPickle", "_pickle", "joblib", "dill", "cloudpickle"}
_PICKLE_LOADS = {"load", "loads", "Unpickler"}
_YAML_LOADS = {"load", "unsafe_load", "full_load"}
_SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput")}
_SHELL_CALLS |= {("subprocess", "getstatusoutput")}
_LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
_LOG_METHODS |= {"emit", "request"}  # functions/logs.py
_LOGGERS = {"logging", "logs", "log", "logger", "_logger"}
_BODY_ATTRIBUTES = {"data", "body", "get_data", "get_json", "json", "stream", "form", "files"}
_BODY_ATTRIBUTES |= {"content"}
_CREDENTIAL = re.compile(
    r"token|password|passwd|secret|credential|authorization|api[-_]?key|private[-_]?key|cookie",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the scanned root
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


@dataclass(frozen=True)
class Scan:
    files: int
    log_calls: int  # the calls the log rules looked at
    findings: list[Finding]


def python_files(root: Path = ROOT) -> list[Path]:
    """Every .py file of the scanned parts of the repository under root."""
    found: list[Path] = []
    for part in SCANNED:
        path = root / part
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def scan(paths: Iterable[Path], root: Path = ROOT) -> Scan:
    """The findings in every file of paths, in file and line order."""
    files = log_calls = 0
    findings: list[Finding] = []
    for path in paths:
        relative = path.relative_to(root).as_posix()
        served = relative.split("/")[0] in SERVED
        scanned = scan_source(path.read_text(), relative, served)
        files += 1
        log_calls += scanned.log_calls
        findings += scanned.findings
    return Scan(files, log_calls, findings)


def scan_source(source: str, name: str, served: bool = False) -> Scan:
    """The findings in one module's source (name is how findings call it)."""
    tree = ast.parse(source, filename=name)
    aliases = _module_aliases(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    findings = [
        Finding(name, call.lineno, rule) for call in calls for rule in _rules(call, aliases, served)
    ]
    log_calls = sum(_is_log_call(call, served) for call in calls)
    return Scan(1, log_calls, sorted(findings, key=lambda finding: finding.line))


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """What each imported name stands for: `import pickle as p` → {"p": "pickle"};
    `from yaml import load` → {"load": "yaml.load"}."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name.split(".")[0]] = name.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                aliases[name.asname or name.name] = f"{node.module}.{name.name}"
    return aliases


def _rules(call: ast.Call, aliases: dict[str, str], served: bool) -> Iterator[str]:
    """The rules call breaks."""
    target = _qualified(call.func, aliases)
    module, _, function = target.rpartition(".")
    if target in {"eval", "exec", "builtins.eval", "builtins.exec"}:
        yield f"{target}() runs code from data"
    if module.split(".")[0] in _PICKLERS and function in _PICKLE_LOADS:
        yield f"{target}() unpickles: never load pickles"
    if function == "read_pickle":
        yield f"{target}() unpickles: never load pickles"
    if module == "yaml" and function in _YAML_LOADS:
        yield f"{target}() can build any object: use yaml.safe_load"
    if (module, function) in _SHELL_CALLS:
        yield f"{target}() runs a shell"
    for keyword in call.keywords:
        if keyword.arg == "shell" and not _is_constant(keyword.value, False):
            yield "shell= other than False runs a shell"
        if keyword.arg == "allow_pickle" and not _is_constant(keyword.value, False):
            yield "allow_pickle= other than False unpickles"
    if _is_log_call(call, served):
        yield from _log_leaks(call)


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str:
    """The dotted name a call's function is spelled with, imports resolved; "" for others."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _qualified(node.value, aliases)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _is_constant(node: ast.expr, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _is_log_call(call: ast.Call, served: bool) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return served and func.id == "print"
    if not isinstance(func, ast.Attribute) or func.attr not in _LOG_METHODS:
        return False
    receiver = func.value
    if isinstance(receiver, ast.Attribute):  # self.logger.info, functions.logs.error
        receiver = ast.Name(id=receiver.attr)
    return isinstance(receiver, ast.Name) and receiver.id in _LOGGERS


def _log_leaks(call: ast.Call) -> Iterator[str]:
    """What a log call is handed that it must not write: bodies, credentials, headers."""
    arguments: list[ast.expr] = [*call.args, *(keyword.value for keyword in call.keywords)]
    for keyword in call.keywords:
        if keyword.arg and _CREDENTIAL.search(keyword.arg):
            yield f"a log call is handed a credential ({keyword.arg}=)"
    for argument in arguments:
        for node in ast.walk(argument):
            if isinstance(node, ast.Attribute) and node.attr in _BODY_ATTRIBUTES:
                yield f"a log call is handed a request body (.{node.attr})"
            word = _word(node)
            if word is not None and _CREDENTIAL.search(word):
                yield f"a log call is handed a credential ({word})"
        for value in _direct_values(argument):
            if isinstance(value, ast.Attribute) and value.attr == "headers":
                yield "a log call is handed a whole .headers mapping"


def _word(node: ast.AST) -> str | None:
    """The identifier or looked-up key a node spells, if any. A key, not any string: a
    message may well say "token"."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _string(node.slice)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        return _string(node.args[0]) if node.func.attr == "get" else None
    return None


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _direct_values(argument: ast.expr) -> Iterator[ast.expr]:
    """The argument itself, or each value an f-string formats: what gets written as it is."""
    if isinstance(argument, ast.JoinedStr):
        for part in argument.values:
            if isinstance(part, ast.FormattedValue):
                yield part.value
    else:
        yield argument
