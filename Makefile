.PHONY: run test bench

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

# `make bench SCHOOLS=50000` for the national scale (default: 5000 écoles, a few minutes).
SCHOOLS ?= 5000
bench:
	SCHOOLS=$(SCHOOLS) bash scripts/bench.sh
