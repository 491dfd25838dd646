-- bench/post.lua, its request and its one-line result, with the body of each server's own
-- protocol (PEERS_BODY); the path comes with the URL.
dofile(os.getenv("PEERS_POST_LUA"))
wrk.body = os.getenv("PEERS_BODY")
