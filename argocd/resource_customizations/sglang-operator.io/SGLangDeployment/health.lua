-- Argo CD health check for sglang-operator.io/SGLangDeployment.
--
-- Reads only what the operator publishes in status (see docs/user-guide.md, "Status"):
-- observedGeneration, phase, replicas/readyReplicas, and metav1.Conditions of type Ready,
-- Progressing and Degraded. Modelled on argoproj.io/Rollout (generation check first, then
-- failures, then pause) and cert-manager.io/Certificate (the failing condition's message).
--
-- Argo CD runs this without the string and math libraries: only base and table functions.

local function condition(obj, condType)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == condType then
      return c
    end
  end
  return nil
end

local function result(status, message)
  local hs = {}
  hs.status = status
  hs.message = message
  return hs
end

if obj.status == nil then
  return result("Progressing", "Waiting for the operator to reconcile")
end

-- Until the operator has seen the current spec, everything else in status describes an older
-- one: a Healthy verdict here would let a sync wave proceed too early.
local generation = tonumber(obj.metadata.generation)
local observed = tonumber(obj.status.observedGeneration)
if observed == nil or (generation ~= nil and observed < generation) then
  return result("Progressing", "Waiting for the operator to observe the latest spec")
end

-- Benchmarks report on their own condition type (Benchmark), which is not read here: a
-- failed benchmark says nothing about serving, which is what health describes.
local degraded = condition(obj, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  return result("Degraded", degraded.message)
end

local ready = condition(obj, "Ready")
if obj.status.phase == "Failed" then
  if ready ~= nil and ready.message ~= nil then
    return result("Degraded", ready.message)
  end
  return result("Degraded", "The deployment failed")
end

-- An offline run is a batch: once it has finished, there is nothing left to wait for.
if obj.status.phase == "Succeeded" then
  if ready ~= nil and ready.message ~= nil then
    return result("Healthy", ready.message)
  end
  return result("Healthy", "Offline run finished")
end

local specReplicas = 1
if obj.spec ~= nil and obj.spec.replicas ~= nil then
  specReplicas = tonumber(obj.spec.replicas)
end
if specReplicas == 0 then
  return result("Suspended", "Scaled to zero replicas")
end

local progressing = condition(obj, "Progressing")
if progressing ~= nil and progressing.status == "True" then
  return result("Progressing", progressing.message)
end

local readyReplicas = tonumber(obj.status.readyReplicas) or 0
if readyReplicas < specReplicas then
  if ready ~= nil and ready.status ~= "True" and ready.message ~= nil then
    return result("Progressing", ready.message)
  end
  return result("Progressing",
    "Waiting for replicas to become ready: " .. readyReplicas .. " of " .. specReplicas)
end

if ready ~= nil and ready.status == "True" then
  return result("Healthy", ready.message)
end

if ready ~= nil and ready.message ~= nil then
  return result("Progressing", ready.message)
end
return result("Progressing", "Waiting for the deployment to become ready")
