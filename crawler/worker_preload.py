"""Run by the analysis workers' fork server when it starts (see :mod:`crawler.workers`): the
imports and the nlp pipeline that every worker forked from the server then inherits."""

from crawler.workers import preload_pipeline

preload_pipeline()
