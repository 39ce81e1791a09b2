"""One baseline binary's run: nag_tf.methods.train with the job's settings, then the perturbation at --out.

The binaries (`sgd_uap`, `sga`, `dm_uap`) read their flags in `main` (`baseline_flags.job_from_flags`) and
pass the `BaselineJob` here; nothing here reads a flag, and nothing here trains: methods.train does.
"""

import os
import shutil

__all__ = ["run_baseline"]


def run_baseline(job):
    """Trains (or resumes, or reads back) the job's run in its workdir and copies its perturbation (.npy and
    .json) to `job.out`, where `nag_tf.evaluate --sources=...` reads it.

    SIGTERM/SIGINT: the step in progress ends, the run's state stays in its workdir, `out` is left as it
    was, and TrainingStopped says so: the same command resumes.

    Raises:
      NAGError: a bad target, weights or data folder.
    """
    from nag_tf import methods
    from nag_tf.methods.single import PERTURBATION

    run = methods.train(
        job.settings,
        job.target,
        job.photos,
        job.budget,
        seed=job.seed,
        workdir=job.workdir,
        verbose=job.verbose,
    )
    os.makedirs(os.path.dirname(os.path.abspath(job.out)), exist_ok=True)
    for suffix in (".npy", ".json"):
        writing = job.out[:-4] + suffix + ".writing"
        shutil.copyfile(os.path.join(run.workdir, PERTURBATION[:-4] + suffix), writing)
        os.replace(writing, job.out[:-4] + suffix)
    print(f"{run.method}: {run.steps} steps in {run.seconds:.0f} s of optimisation; saved {job.out}")
    return run
