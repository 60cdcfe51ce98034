# gankit — the commands README.md names. Each target sets up .venv first when needed.
#
#   make lab     start JupyterLab on notebooks/ (PORT=8888 TOKEN=... to override)
#   make lab-zh  build the Chinese lessons (i18n/zh_CN) into build/zh_CN/ and start JupyterLab there
#   make serve   serve the bundled models as a web API on localhost:8000 (PORT=8001 to override)
#   make test    unit tests + every lesson executed by nbval, on the CPU
#   make bench   run every lesson headless; write benchmarks/results.{json,md}
#   make student write the student versions (solutions replaced by stubs) into build/student/
#   make doctor  check the installation offline
#   make test-browser-all  the browser test (tests/browser) for every lesson with a widget

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gankit-installed
PORT   ?= 8888
TOKEN  ?=
FIRST_LESSON := 01_gan_fundamentals.ipynb

.PHONY: setup lab lab-zh serve test unit test-browser-all bench student doctor lessons clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "gankit needs Python >= 3.10; this is " + sys.version.split()[0] + ". Run make PYTHON=python3.11 (or another >= 3.10).")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name gankit --display-name "Python 3 (gankit)" >/dev/null
	@touch $(STAMP)
	@echo "gankit is installed in $(VENV)."

setup: $(STAMP)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ at http://localhost:$(PORT)/ (the full URL with its token follows)."
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --ServerApp.port=$(PORT) \
		--LabApp.default_url=/lab/tree/$(FIRST_LESSON) \
		$(if $(TOKEN),--IdentityProvider.token=$(TOKEN),) \
		$(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True,)

# The translated lessons are built, never edited: the text lives in i18n/zh_CN/*.po (README.zh_CN.md).
# A cell whose translation is missing or out of date shows its English (the build says how many).
# GANKIT_LANG=zh_CN makes the checks' messages Chinese too (i18n/zh_CN/checks/*.po).
lab-zh: $(STAMP)
	$(BIN)/gankit translate --lang zh_CN --out build/zh_CN --allow-missing
	@echo "Starting JupyterLab on build/zh_CN/ at http://localhost:$(PORT)/ (the full URL with its token follows)."
	GANKIT_LANG=zh_CN $(BIN)/jupyter lab --ServerApp.root_dir=build/zh_CN --ServerApp.port=$(PORT) \
		--LabApp.default_url=/lab/tree/$(FIRST_LESSON) \
		$(if $(TOKEN),--IdentityProvider.token=$(TOKEN),) \
		$(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True,)

# PORT defaults to JupyterLab's 8888 above; the service keeps its own default, 8000, unless
# PORT is given on the command line or in the environment (make serve PORT=8001).
SERVE_PORT = $(if $(filter command line environment,$(origin PORT)),$(PORT),8000)

serve: $(STAMP)
	$(BIN)/gankit serve --port $(SERVE_PORT) $(SERVE_ARGS)

# One pytest run: every notebook in notebooks/ (nbval executes each cell; the lessons' own
# checks carry the assertions, hence --nbval-lax) and the unit tests. pytest-xdist runs the
# files side by side, one worker per core (JOBS=auto; JOBS=0 runs them one after another);
# --dist loadfile keeps each file on one worker, as a notebook's cells share one kernel. Each
# worker computes on one thread (OMP_NUM_THREADS=1), so the workers do not fight for cores;
# the notebooks come first so that the longest files start first. GANKIT_LANG=en: the English
# lessons' checks speak English (a student version's first check must say "not written yet")
# even in a shell set up for `make lab-zh`; the translation tests set the language they test.
JOBS ?= auto
PARALLEL = $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadfile)

test: $(STAMP)
	GANKIT_DEVICE=cpu OMP_NUM_THREADS=1 GANKIT_LANG=en $(BIN)/python -m pytest notebooks tests $(PARALLEL) \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900

unit: $(STAMP)
	GANKIT_DEVICE=cpu OMP_NUM_THREADS=1 GANKIT_LANG=en $(BIN)/python -m pytest tests $(PARALLEL)

# `make test` checks the first lesson's widget in Chromium; this checks every lesson's.
test-browser-all: $(STAMP)
	GANKIT_DEVICE=cpu GANKIT_BROWSER_ALL=1 $(BIN)/python -m pytest tests/browser -v

bench: $(STAMP)
	$(BIN)/python -m gankit.tools.bench

student: $(STAMP)
	$(BIN)/gankit student --out build/student

doctor: $(STAMP)
	$(BIN)/gankit doctor

lessons: $(STAMP)
	$(BIN)/gankit lessons

clean-venv:
	rm -rf $(VENV)
