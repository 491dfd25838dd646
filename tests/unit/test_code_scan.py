"""The static security check (soak/code_scan.py): the repository passes it, and it catches
what it is there to catch, at the right line."""

from __future__ import annotations

import textwrap

import pytest

from soak.code_scan import ROOT, python_files, scan, scan_source


def test_the_repository_has_no_finding():
    report = scan(python_files())
    assert [str(finding) for finding in report.findings] == []


def test_it_reads_every_part_of_the_repository_and_its_log_calls():
    files = {path.relative_to(ROOT).parts[0] for path in python_files()}
    assert files == {"functions", "model", "infra", "mlctl", "bench", "soak", "main.py"}
    report = scan(python_files())
    assert report.files > 50
    assert report.log_calls >= 10  # the log rules see the project's log calls at all


PLANTED = {
    "eval(text)": "eval() runs code from data",
    "exec(compile(text, 'x', 'exec'))": "exec() runs code from data",
    "import builtins\nbuiltins.eval(text)": "builtins.eval() runs code from data",
    "import pickle\npickle.loads(blob)": "pickle.loads() unpickles",
    "import pickle as p\np.load(file)": "pickle.load() unpickles",
    "from pickle import loads as undo\nundo(blob)": "pickle.loads() unpickles",
    "import joblib\njoblib.load(path)": "joblib.load() unpickles",
    "import dill\ndill.loads(blob)": "dill.loads() unpickles",
    "import cPickle\ncPickle.Unpickler(file)": "cPickle.Unpickler() unpickles",
    "import pandas as pd\npd.read_pickle(path)": "pandas.read_pickle() unpickles",
    "import numpy as np\nnp.load(path, allow_pickle=True)": "allow_pickle= other than False",
    "import yaml\nyaml.load(text, Loader=yaml.Loader)": "yaml.load() can build any object",
    "from yaml import unsafe_load\nunsafe_load(text)": "yaml.unsafe_load() can build any object",
    "import subprocess\nsubprocess.run(command, shell=True)": "shell= other than False",
    "import subprocess\nsubprocess.run(command, shell=flag)": "shell= other than False",
    "import os\nos.system(command)": "os.system() runs a shell",
    "import os\nos.popen(command)": "os.popen() runs a shell",
    "import subprocess\nsubprocess.getoutput(command)": "subprocess.getoutput() runs a shell",
    "logs.info(f'got {request.get_data()}')": "request body (.get_data)",
    "logs.request('x', component='c', body=request.data)": "request body (.data)",
    "logging.warning('bad body %s', message.data)": "request body (.data)",
    "logger.error('x', extra={'raw': request.stream.read()})": "request body (.stream)",
    "self.logger.info(json.dumps(request.get_json()))": "request body (.get_json)",
    "logs.info('refreshed', token=value)": "credential (token=)",
    "logs.error(f'denied for {password}')": "credential (password)",
    "logging.info('auth %s', request.headers['Authorization'])": "credential (Authorization)",
    "logs.warning('auth', value=headers.get('X-Api-Key'))": "credential (X-Api-Key)",
    "logger.info('client %s', self.credentials)": "credential (credentials)",
    "logs.info(f'headers {request.headers}')": "a whole .headers mapping",
}


@pytest.mark.parametrize(("planted", "rule"), PLANTED.items())
def test_a_planted_sample_is_found_at_its_line(planted, rule):
    source = "x = 1\n\n" + planted + "\n"
    (finding,) = scan_source(source, "planted.py").findings
    assert rule in finding.rule
    assert finding.line == 2 + planted.count("\n") + 1
    assert str(finding).startswith(f"planted.py:{finding.line}: ")


def test_print_is_a_log_call_only_where_stdout_is_the_log():
    source = "print(request.get_data())\n"
    assert scan_source(source, "functions/x.py", served=True).findings
    assert not scan_source(source, "mlctl/x.py", served=False).findings


SAFE = """
import subprocess, yaml, numpy as np
subprocess.run(["ls"], shell=False, check=True)
yaml.safe_load(text)
np.load(path, allow_pickle=False)
logs.info("the token was refreshed")  # a message may say token
logs.request("x", **trace.fields(request.headers, project))  # headers handed to a function
logging.info("%d instances", len(instances))
model.evaluate(expression)
"""


def test_safe_spellings_are_not_findings():
    assert scan_source(textwrap.dedent(SAFE), "safe.py").findings == []


def test_findings_come_in_line_order_with_every_rule_a_call_breaks():
    source = "logs.info(eval(request.data))\neval(x)\n"
    findings = scan_source(source, "two.py").findings
    assert [finding.line for finding in findings] == [1, 1, 2]
    assert {finding.rule.split(" ")[0] for finding in findings} == {"eval()", "a"}
