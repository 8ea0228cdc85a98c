// Offline validation of rendered Kubernetes YAML against the Kubernetes API schemas (npm kubernetes-models, the
// OpenAPI schemas compiled to ajv validators), plus an unknown-field check that kubernetes-models lacks.
//
// Usage: node validate.mjs FILE.yaml [FILE.yaml ...]
// Prints one line per problem as `FILE: Kind/name: /json/path: message` and exits 1 if there is any; prints
// `ok: N objects (Kind xN, ...)` and exits 0 otherwise. Exit 2 on usage or I/O errors.
//
// Unknown fields: the compiled validators read `data.<field>` for every field the schema declares, and walk the keys
// of free-form maps (labels, annotations, ConfigMap data). We hand them a Proxy that records every property read, per
// JSON path. A key present in the document that the validator never read is a field the schema does not know
// (a typo such as `replicaz`, or a field at the wrong level), so we report it. This is generic over kinds, so there is
// no hand-kept allow-list to go stale; the kinds we accept are listed in KINDS below.
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';

// apiVersion/kind -> schema module of kubernetes-models. Anything else is rejected: a new kind in the chart must be
// added here on purpose.
const KINDS = {
  'v1/ConfigMap': 'IoK8sApiCoreV1ConfigMap',
  'v1/Service': 'IoK8sApiCoreV1Service',
  'v1/ServiceAccount': 'IoK8sApiCoreV1ServiceAccount',
  'v1/PersistentVolumeClaim': 'IoK8sApiCoreV1PersistentVolumeClaim',
  'v1/Secret': 'IoK8sApiCoreV1Secret',
  'apps/v1/Deployment': 'IoK8sApiAppsV1Deployment',
  'policy/v1/PodDisruptionBudget': 'IoK8sApiPolicyV1PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy': 'IoK8sApiNetworkingV1NetworkPolicy',
  'autoscaling/v2/HorizontalPodAutoscaler': 'IoK8sApiAutoscalingV2HorizontalPodAutoscaler',
};

/** Wraps `value` so that every property read is recorded in `seen` as a JSON path. */
function recording(value, path, seen) {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(target, key)) return v;
      const child = `${path}/${key}`;
      seen.add(child);
      return recording(v, child, seen);
    },
  });
}

/** Every JSON path of an object key in `value` that is not in `seen`. Array elements are walked, not reported. */
function unread(value, path, seen, out) {
  if (value === null || typeof value !== 'object') return out;
  for (const key of Object.keys(value)) {
    const child = `${path}/${key}`;
    if (!Array.isArray(value) && !seen.has(child)) {
      out.push(child);
      continue; // its children are unknown too; one report is enough
    }
    unread(value[key], child, seen, out);
  }
  return out;
}

function message(err) {
  const params = err.params && Object.keys(err.params).length ? ' ' + JSON.stringify(err.params) : '';
  return `${err.instancePath || '/'}: ${err.keyword}${err.message ? ' ' + err.message : ''}${params}`;
}

async function validateDoc(doc) {
  const problems = [];
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['document is not an object'];
  const key = `${doc.apiVersion}/${doc.kind}`;
  const schema = KINDS[key];
  if (!schema) return [`kind ${key} is not one this validator knows (${Object.keys(KINDS).join(', ')})`];
  const { validate } = await import(`kubernetes-models/_schemas/${schema}`);
  const seen = new Set(['/apiVersion', '/kind']);
  if (!validate(recording(doc, '', seen))) {
    for (const err of validate.errors ?? []) problems.push(message(err));
  }
  for (const path of unread(doc, '', seen, [])) problems.push(`${path}: unknown field (not in the ${key} schema)`);
  if (!doc.metadata || typeof doc.metadata.name !== 'string' || doc.metadata.name === '') {
    problems.push('/metadata/name: required');
  }
  return problems;
}

async function main(files) {
  if (files.length === 0) {
    console.error('usage: node validate.mjs FILE.yaml [FILE.yaml ...]');
    return 2;
  }
  let bad = 0;
  const counts = {};
  for (const file of files) {
    let docs;
    try {
      docs = yaml.loadAll(readFileSync(file, 'utf8')).filter((d) => d !== null && d !== undefined);
    } catch (e) {
      console.error(`${file}: cannot read or parse: ${e.message}`);
      return 2;
    }
    for (const doc of docs) {
      const name = `${doc?.kind}/${doc?.metadata?.name}`;
      for (const p of await validateDoc(doc)) {
        console.log(`${file}: ${name}: ${p}`);
        bad++;
      }
      counts[doc?.kind] = (counts[doc?.kind] ?? 0) + 1;
    }
  }
  if (bad > 0) return 1;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) {
    console.log('no objects found: an empty rendering is not a valid result');
    return 1;
  }
  const summary = Object.entries(counts).sort().map(([k, n]) => `${k} x${n}`).join(', ');
  console.log(`ok: ${total} objects (${summary})`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
