"""Figures of a run, one module per family; every name other modules import is re-exported here.

* `tables`: from the long table alone: each metric over time, and for sweeps work-precision and convergence in N;
* `particles`: from the stored particle files (their size and shape checked first): marginals, density
  panels and slices, particle and score scatter plots;
* `marginals`: the exact or cached reference density those are drawn against (a report never builds one) and
  its 1D marginals by quadrature;
* `frontier`: a sweep's error against CPU seconds, every method's rungs and the frontier;
* `training`: the neural solvers' training curves;
* `certificates`: each certificate's bound beside what was observed;
* `common`: the PNG write, safe file names and setting labels they share.
"""
from harness.report.figures.certificates import write_certificate_figures
from harness.report.figures.common import figure_path, save_figure, setting_label
from harness.report.figures.frontier import frontier_figure, write_frontier_figures
from harness.report.figures.marginals import (MARGINAL_CROSS_NODES, MARGINAL_NODES, judged_if_cached,
                                              reference_marginal)
from harness.report.figures.particles import (MAX_PARTICLE_FILE_ELEMENTS, SLICE_MIN_COUNT, _load_cells, load_cells,
                                              npz_elements, particle_marginal, particles_fit, write_particle_figures)
from harness.report.figures.tables import (LOG_SCALE, PLOTTED, convergence_in_n, metric_over_time, work_precision,
                                           write_figures, write_sweep_figures)
from harness.report.figures.training import write_training_figures

__all__ = [
    "LOG_SCALE", "MARGINAL_CROSS_NODES", "MARGINAL_NODES", "MAX_PARTICLE_FILE_ELEMENTS", "PLOTTED", "SLICE_MIN_COUNT",
    "convergence_in_n", "figure_path", "frontier_figure", "judged_if_cached", "load_cells", "metric_over_time", "npz_elements",
    "particle_marginal", "particles_fit", "reference_marginal", "save_figure", "setting_label",
    "write_certificate_figures", "write_figures", "write_frontier_figures", "write_particle_figures", "write_sweep_figures",
    "write_training_figures", "work_precision",
]
