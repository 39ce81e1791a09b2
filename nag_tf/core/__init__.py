"""The method itself: the generator, its losses and the Keras model whose train_step applies them.

Depends on nothing else in nag_tf but `choices`; everything else (inputs, training, evaluation,
hardening) is built on it.
"""
