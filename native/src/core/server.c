/* The engine's side of the server interface; see server.h. */
#include "core/server.h"

#include <string.h>

void server_init(struct server *s, const struct server_config *cfg, const struct worker_hook *before_exit)
{
	memset(s, 0, sizeof(*s));
	s->ops = server_ops_for(cfg->engine);
	s->cfg = *cfg;
	worker_init(&s->worker, WORKER_SERVER, before_exit);
}

int server_start(struct server *s, struct latch *ready)
{
	return worker_start(&s->worker, &s->ops->body, s, ready);
}

void server_stop(struct server *s)
{
	worker_wake(&s->worker);
	worker_join(&s->worker);
}
