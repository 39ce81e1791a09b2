"""The comparisons, installed with the package: methods trained the same way (nag_tf.methods.train) on the
same photos, for the same optimisation seconds, scored by one evaluation, with paired intervals.

  head_to_head  - one perturbation source per method: fooling, coverage, transfer, curves at marks
  sets          - K perturbations per method at equal total compute: coverage@K
  summary       - the JSON keys derived from per-photo lists, merging and pooling saved runs
  setup         - the photos (folders or a split), the target and every method's settings of one comparison
  machine       - the machine a figure was measured on
The binaries are `python -m nag_tf.compare` and `python -m nag_tf.sets`.
"""
