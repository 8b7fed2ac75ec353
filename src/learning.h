/*-------------------------------------------------------------------------
 *
 * learning.h
 *		Declarations shared by the C files of the learning extension.
 *
 * Copyright (c) 2026, the learning authors
 *
 * IDENTIFICATION
 *		src/learning.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LEARNING_H
#define LEARNING_H

#include "postgres.h"
#include "fmgr.h"
#include "lib/stringinfo.h"

/* Vocabulary limits of SPEC section 2. */
#define LEARNING_TENANT_MAXLEN		48
#define LEARNING_ACTION_MAXLEN		50
#define LEARNING_NBINS				10

/* GUCs (learning.c). */
extern bool learning_enabled;

/* learning.c */
extern bool learning_preloaded;
extern int	learning_immediate_signals_interval;
extern int	learning_engagement_signals_interval;
extern int	learning_deal_progression_interval;
extern int	learning_expire_overdue_interval;
extern int	learning_calibration_check_interval;
extern int	learning_job_history_retention;

/* scheduler.c: the launcher and the per-database schedulers. */
extern void learning_register_launcher(void);

/* validate.c: input checks that raise precise errors. */
extern void learning_check_tenant_id(const char *tenant_id);
extern void learning_check_action_type(const char *action_type);
extern void learning_check_confidence(const char *field, double p);

/* json.c helpers: append JSON values to a StringInfo. */
extern void learning_json_string(StringInfo buf, const char *s);
extern void learning_json_float(StringInfo buf, double v);
extern void learning_json_key(StringInfo buf, const char *key, bool *first);

/* calibration.c: bin accumulation is flushed at statement end and cleared on abort. */
extern void learning_calibration_xact_callback(int event);
extern void learning_calibration_subxact_abort(SubTransactionId mySubid);
extern void learning_calibration_subxact_commit(SubTransactionId mySubid,
												SubTransactionId parentSubid);

#endif							/* LEARNING_H */
