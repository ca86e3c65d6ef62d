"""Pruning baselines of the LOMP tables, as small library modules.

:mod:`.smart_ratio`: Smart-Ratio (Su et al., NeurIPS 2020) and random pruning with equal layer
ratios: data-free per-layer kept counts and nested random masks. :mod:`.rare_gems`: Rare Gems /
Gem-Miner (Sreenivasan et al., NeurIPS 2022): a mask of the frozen initial weights found by
training scores.
"""
