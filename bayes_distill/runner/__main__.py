"""``python -m bayes_distill.runner SPEC --out DIR``: the same as ``bayes-distill run``."""

from bayes_distill.runner import main_run

if __name__ == "__main__":
    raise SystemExit(main_run())
