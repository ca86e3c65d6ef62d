"""The published numbers we compare against (the pruning-limit paper's tables), kept as data.

Zhang, Zhang, Sun, Liu, "How Sparse Can We Prune A Deep Network: A Fundamental Limit
Perspective" (NeurIPS 2024): kept ratio in percent, mean +- std over their seeds.
"""

# (dataset, model) -> (mean, std) of the theoretical limit, the actual limit, the paper's Delta
# column, which is actual - theory (a mean of per-seed differences: FC5 1.74 - 2.1 -> -0.40,
# ResNet18/CIFAR100 2.0 - 1.5 -> 0.54), and the gap between the paper's lower and upper bounds;
# all in percent of D.
PAPER_LIMITS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("cifar10", "fc5"): {
        "theory": (2.1, 0.25),
        "actual": (1.74, 0.12),
        "gap": (-0.40, 0.35),
        "bound_gap": (0.17, 0.05),
    },
    ("cifar10", "fc12"): {
        "theory": (1.0, 0.30),
        "actual": (0.8, 0.06),
        "gap": (-0.24, 0.33),
        "bound_gap": (0.05, 0.03),
    },
    ("cifar10", "alexnet"): {
        "theory": (0.9, 0.00),
        "actual": (0.8, 0.08),
        "gap": (-0.14, 0.08),
        "bound_gap": (0.02, 0.01),
    },
    ("cifar10", "vgg16"): {
        "theory": (0.8, 0.06),
        "actual": (0.8, 0.08),
        "gap": (0.04, 0.08),
        "bound_gap": (0.01, 0.00),
    },
    ("cifar100", "resnet18"): {
        "theory": (1.5, 0.05),
        "actual": (2.0, 0.13),
        "gap": (0.54, 0.15),
        "bound_gap": (0.124, 0.05),
    },
    ("cifar100", "resnet50"): {
        "theory": (1.9, 0.05),
        "actual": (2.1, 0.16),
        "gap": (0.28, 0.19),
        "bound_gap": (0.11, 0.09),
    },
    ("tinyimagenet", "resnet18"): {
        "theory": (3.9, 0.82),
        "actual": (4.3, 0.38),
        "gap": (0.46, 0.71),
        "bound_gap": (0.094, 0.01),
    },
    ("tinyimagenet", "resnet50"): {
        "theory": (2.64, 0.24),
        "actual": (2.9, 0.33),
        "gap": (0.36, 0.10),
        "bound_gap": (0.27, 0.22),
    },
}
