/**
 * The names the waypoint deployment controller and the status writer share with Istio: labels
 * and annotations it reads on a Gateway and writes on what it creates, the controller names in
 * status, and the field manager of its server-side applies.
 */

/** GatewayClass of waypoints and its controller (Istio's `istio.io/mesh-controller`). */
export const WAYPOINT_CLASS = "istio-waypoint";
export const MESH_CONTROLLER = "istio.io/mesh-controller";
/** controllerName Istio writes in route status.parents for Service (GAMMA) parents. */
export const GATEWAY_CONTROLLER = "istio.io/gateway-controller";
/** `gateway.istio.io/managed` and its value on objects the mesh controller owns (Istio's ControllerLabel). */
export { SERVICE_ACCOUNT_ANNOTATION } from "../translate/waypoint.js";
import { SERVICE_ACCOUNT_ANNOTATION } from "../translate/waypoint.js";
export { MANAGED_GATEWAY as MANAGED_LABEL, MESH_CONTROLLER as MANAGED_VALUE, GATEWAY_NAME_LABEL } from "../translate/mesh-labels.js";
export const GATEWAY_CLASS_LABEL = "gateway.networking.k8s.io/gateway-class-name";
export const NAME_OVERRIDE_ANNOTATION = "gateway.istio.io/name-override";
export const CONTROLLER_VERSION_ANNOTATION = "gateway.istio.io/controller-version";
/** Istio's annotation choosing the waypoint Service's type (default ClusterIP). */
export const SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type";
export const NETWORK_LABEL = "topology.istio.io/network";
/** Istio's ControllerVersion (5 since 1.18): a Gateway claimed by a higher version is left alone. */
export const CONTROLLER_VERSION = 5;
/** Field manager of every server-side apply and status patch weft's control plane sends. */
export const FIELD_MANAGER = "weft-gateway-controller";

/** Annotations Istio never copies from the Gateway onto what it creates. */
export const NOT_COPIED_ANNOTATIONS: readonly string[] = [
  "kubectl.kubernetes.io/last-applied-configuration",
  NAME_OVERRIDE_ANNOTATION,
  SERVICE_ACCOUNT_ANNOTATION,
  CONTROLLER_VERSION_ANNOTATION,
];
