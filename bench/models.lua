-- bench/post.lua's request and result, each request to the next path of BENCH_PATHS in turn
-- (space-separated): many models called one after another on one server.
dofile(os.getenv("PEERS_POST_LUA"))
wrk.body = os.getenv("PEERS_BODY")
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS"), "[^ ]+") do
  paths[#paths + 1] = path
end
local turn = 0

request = function()
  turn = turn % #paths + 1
  return wrk.format(nil, paths[turn])
end
