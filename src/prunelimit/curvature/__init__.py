"""The curvature of a network's training loss: the Hessian as an operator, and the algorithms
that read it (operators apart from the algorithms, as curvlinops keeps them).

- :mod:`~prunelimit.curvature.operator`: the Hessian-vector product of the prunable weights,
  over chunks of samples;
- :mod:`~prunelimit.curvature.spectrum`: Lanczos with full reorthogonalisation and stochastic
  Lanczos quadrature (SLQ), the spectrum's summary and what it resolves;
- :mod:`~prunelimit.curvature.pyhessian_engine`: the same spectrum by the pyhessian package;
- :mod:`~prunelimit.curvature.linalg`: inner products and norms of long float32 vectors;
- :mod:`~prunelimit.curvature.peak`: peak memory of a call (CUDA allocator, CPU resident set);
- :mod:`~prunelimit.curvature.memory`: its linear cost in the batch size and the Hessian chunk
  under a budget (``hessian.batch_size: auto``), chosen in one place.
"""
