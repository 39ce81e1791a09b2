"""A defence that learns what a universal perturbation looks like from many of them (issue #52): a
detector that flags photos carrying one, and a rectifier in front of the frozen target that undoes it
(after Akhtar, Liu and Mian, CVPR 2018). NAG gives any number of training perturbations for the price of
one run; `nag_tf.defend` compares defences trained on NAG's samples with those trained on K SGA or K
DM-UAP perturbations, or on random signs, against methods and runs they never saw, and against attacks
that see the defence.

  draws     - what perturbs the training photos: NAG samples, a set's members, random signs
  networks  - the detector, the rectifier and the defended classifier (rectifier + target, one model)
  training  - their Keras training steps (the target stays frozen)
  measures  - detection (TPR at 5% false positives, AUC) and accuracy under perturbations
  perturbations - the training sources' and the attacks' runs (reused from the workdir when finished)
  store     - trained detectors and rectifiers kept in the workdir and read back (a comparison resumes)
  compare   - the comparison at equal compute behind `python -m nag_tf.defend`
  pool      - comparisons of several seeds or splits pooled (`--pool`)
"""
