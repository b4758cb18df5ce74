/**
 * The HBONE engine in-process test components run on: WEFT_HBONE_ENGINE=node|native, or the
 * component's own default when unset (scripts/test.sh runs the HBONE, ztunnel and waypoint files
 * once more on the other engine).
 */
import { type HboneEngine, parseHboneEngine } from "../../src/proxy/hbone/engine.js";

export function testEngine(componentDefault: HboneEngine): HboneEngine {
  const e = parseHboneEngine(process.env.WEFT_HBONE_ENGINE, "WEFT_HBONE_ENGINE", componentDefault);
  if (!e.ok) throw e.error;
  return e.value;
}
