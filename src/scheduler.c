/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		Background workers: the launcher and one scheduler per database that
 *		has the extension (SPEC section 6).
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/scheduler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "learning.h"

/*
 * learning_register_launcher registers the launcher worker.  Not written yet:
 * the workers are the subject of their own issue.
 */
void
learning_register_launcher(void)
{
}
