/* scripts.h: the Lua scripts of the queue and the store (scripts.c). */
#ifndef SLATE_SCRIPTS_H
#define SLATE_SCRIPTS_H

extern const char slate_lua_finish[];
extern const char slate_lua_group[];
extern const char slate_lua_move_due[];
extern const char slate_lua_heartbeat[];
extern const char slate_lua_commit_sync[];
extern const char slate_lua_sync_failed[];
extern const char slate_lua_set_progress[];
extern const char slate_lua_store_tests[];
extern const char slate_lua_disconnect[];
extern const char slate_lua_lease[];
extern const char slate_lua_release_lease[];
extern const char slate_lua_load[];
extern const char slate_lua_begin[];
extern const char slate_lua_reclaim[];
extern const char slate_lua_reap[];
extern const char slate_lua_schedule[];
extern const char slate_lua_stage_page[];

#endif
