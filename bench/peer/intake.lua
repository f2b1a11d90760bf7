-- One new request per call, each with an email no other call of any run has used.
-- PEER_KIND=accord: Accord's create body; PEER_KIND=fides: Fides' (a list of one).
dofile(os.getenv("PEER_LUA_DIR") .. "/report.lua")

local kind = os.getenv("PEER_KIND")
local run = os.getenv("PEER_RUN") or tostring(os.time())
local n = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  n = n + 1
  local email = string.format("wrk-%s-%d@example.com", run, n)
  local body
  if kind == "fides" then
    body = '[{"identity":{"email":"' .. email .. '"},"policy_key":"default_access_policy"}]'
  else
    -- Preverified: Fides runs with identity verification off, so neither side mails a
    -- verification code.
    body = '{"request":"view","userEmail":"' .. email .. '","preverified":true}'
  end
  return wrk.format(nil, nil, nil, body)
end
