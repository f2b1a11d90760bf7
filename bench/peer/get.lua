-- GET the URL given to wrk (headers come from -H).
dofile(os.getenv("PEER_LUA_DIR") .. "/report.lua")
