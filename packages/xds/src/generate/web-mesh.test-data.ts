import { assembleMeshModel } from "../model/assemble.js";
import { parseMeshFile } from "../model/parse-documents.js";

/** A one-Service mesh for generator tests: `web.demo` with an HTTP port and a TCP port, one endpoint. */
export const WEB_MESH = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: demo }
spec:
  ports: [{ name: http, port: 80, targetPort: 8080 }, { name: tcp-db, port: 5432 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web, namespace: demo, labels: { kubernetes.io/service-name: web } }
ports: [{ name: http, port: 8080 }, { name: tcp-db, port: 5432 }]
endpoints:
  - addresses: [10.0.0.9]
`;

/** The mesh model of WEB_MESH. */
export function webMeshModel() {
  return assembleMeshModel(parseMeshFile("mesh.yaml", WEB_MESH).items).model;
}
