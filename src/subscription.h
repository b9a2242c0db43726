/*
 * subscription.h
 *	  Subscriptions: durable consumers of the global log
 *	  (es.create_subscription, es.drop_subscription, es.poll, es.wait).
 *
 * Only SQL-callable functions live in subscription.c; nothing else calls
 * in.  The log they read is log.h's.
 */
#ifndef ES_SUBSCRIPTION_H
#define ES_SUBSCRIPTION_H

#endif							/* ES_SUBSCRIPTION_H */
