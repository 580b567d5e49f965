"""The install compiles to bytecode what the course imports (Makefile: ``NOT_COMPILED``).

Where ``PYTHONDONTWRITEBYTECODE`` is set, as on the course's CI machines, nothing writes
``.pyc`` files after the install: a module the install left out is parsed from source in
every process, every time. The install leaves out what the course never imports; these
tests import the course's libraries and check that it left out none of them.
"""

import importlib
import importlib.util
import re
import sys
import sysconfig
from pathlib import Path

from test_install_commands import make_install

# everything the notebooks, the command line, the app and the tests import
COURSE_IMPORTS = (
    "helpers.app", "helpers.cli", "helpers.colab", "helpers.evaluation", "helpers.plots",
    "helpers.pretraining", "helpers.refinement_trials", "helpers.report", "helpers.training",
    "helpers.widgets", "ipykernel.kernelapp", "matplotlib.pyplot", "nbclient", "nbval.plugin",
    "jupytext", "playwright.sync_api", "transformers.pipelines", "xdist",
)  # fmt: skip


def not_compiled_pattern(tmp_path: Path) -> re.Pattern:
    """The ``-x`` pattern of the install's compileall, as ``make -n`` prints it."""
    printed = make_install(tmp_path)
    assert printed.returncode == 0, printed.stderr
    found = re.search(r" -m compileall .* -x '([^']+)' ", printed.stdout)
    assert found, f"no compileall -x '...' in what make install runs:\n{printed.stdout}"
    return re.compile(found.group(1))


def imported_site_files() -> list[str]:
    """The ``.py`` files in site-packages that the course's imports load."""
    for name in COURSE_IMPORTS:
        importlib.import_module(name)
    site = sysconfig.get_path("purelib")
    files = {getattr(module, "__file__", None) for module in list(sys.modules.values())}
    return sorted(f for f in files if f and f.startswith(site) and f.endswith(".py"))


def test_the_install_compiles_every_file_the_course_imports(tmp_path):
    pattern = not_compiled_pattern(tmp_path)
    files = imported_site_files()
    assert len(files) > 1000, "the course's imports should load torch and transformers"
    left_out = [f for f in files if pattern.search(f)]
    assert not left_out, (
        f"the install does not compile {len(left_out)} file(s) that the course imports, "
        f"e.g. {left_out[:3]}: narrow NOT_COMPILED in the Makefile"
    )


def test_the_files_the_course_imports_have_their_bytecode():
    """In a venv made by ``make install``: the compile step ran and covered them all."""
    files = imported_site_files()
    missing = [f for f in files if not Path(importlib.util.cache_from_source(f)).is_file()]
    assert not missing, (
        f"{len(missing)} of {len(files)} imported files have no .pyc, e.g. {missing[:3]}: "
        f"the install's compileall step did not run or failed (rm .venv/.installed; make install)"
    )


def test_the_pattern_leaves_out_test_suites_and_other_model_families(tmp_path):
    pattern = not_compiled_pattern(tmp_path)
    site = "/venv/lib/python3.11/site-packages"
    for left_out in (
        "pandas/tests/frame/test_api.py",
        "transformers/models/llama/modeling_llama.py",
        "transformers/models/bert/__init__.py",
        "torch/_inductor/codegen/cpp.py",
        "networkx/algorithms/flow/maxflow.py",
        "sympy/physics/units/quantities.py",
        "numpy/f2py/crackfortran.py",
    ):
        assert pattern.search(f"{site}/{left_out}"), left_out
    for compiled in (
        "transformers/models/__init__.py",
        "transformers/models/gpt2/modeling_gpt2.py",
        "transformers/models/auto/modeling_auto.py",
        "transformers/modeling_utils.py",
        "torch/testing/_internal/common_dtype.py",
        "torch/nn/modules/linear.py",
        "torch/_inductor/config.py",
        "sympy/core/expr.py",
        "numpy/linalg/_linalg.py",
    ):
        assert not pattern.search(f"{site}/{compiled}"), compiled
