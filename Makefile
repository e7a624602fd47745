# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test install tools bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# tmux drives the quiz's real-terminal test, chromium (with a Hangul font) the report's browser
# test; install them when missing and we can.
tools:
	@command -v tmux >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q tmux >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q tmux >/dev/null 2>&1)) || \
	  echo "note: tmux not installed; the real-terminal quiz test will be skipped"; }
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=ko 2>/dev/null | grep -q .; } || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1)) || \
	  echo "note: chromium/fonts-noto-cjk not installed; the report's browser test will be skipped"; }

demo: install
	$(VENV)/bin/seqlab grade mha examples/submissions/mha --out grades/demo/mha
	@for a in mdn lstm gru vit; do \
	  if [ -d examples/submissions/$$a ]; then $(VENV)/bin/seqlab grade $$a examples/submissions/$$a --out grades/demo/$$a || exit 1; fi; \
	done
	@for r in grades/demo/*/report.html; do echo "class report: $$(pwd)/$$r"; done

# Two pytest-xdist workers at most (each class run already grades on every core); tests that
# share a class run stay on one worker (tests/conftest.py). `make test TEST_WORKERS=0`: one process;
# more pytest flags in TEST_ARGS (not PYTEST_ADDOPTS: the graders' own pytest would read it too).
TEST_WORKERS ?= auto --maxprocesses 2
TEST_ARGS ?=
test: install tools
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(TEST_ARGS)

bench: install
	$(PY) bench/bench_grade.py
	$(PY) bench/bench_single.py
	$(PY) bench/bench_assignments.py gru vit
	$(PY) bench/bench_report.py --students 1000
	$(PY) bench/bench_quiz.py
	$(PY) bench/bench_vs_nbgrader.py --students 40 --repeats 3

clean:
	rm -rf $(VENV) grades dist build
