"""The stages of a run and their composition, split by idea.

:mod:`pipelines.runner` re-exports the public names. The modules: ``context`` (what stages
share), ``folders`` (land, clean, match one folder), ``assessing`` (assess one period),
``publish`` (the atomic publish and ``runs``), ``execute`` (monthly and quarterly runs).
"""
