# prunelimit: how far can a deep network be pruned? Theory against one-shot pruning.
# Thin entry point: config, validation, includes, the final targets. See README.md.

import sys

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, f"{workflow.basedir}/src")  # the library, also without an install


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/spectrum.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/limit.smk"
include: "workflow/rules/results.smk"
include: "workflow/rules/sap.smk"
include: "workflow/rules/ntk.smk"
include: "workflow/rules/spline.smk"


rule all:
    default_target: True
    input:
        TRAIN_TARGETS,
        THEORY_TARGETS,
        LIMIT_TARGETS,
        RESULTS_TARGETS,
        SAP_TARGETS,
        NTK_TARGETS,
        SPLINE_TARGETS,
