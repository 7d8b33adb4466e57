import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-write.ts';
import { ChecksumMismatchError, ModelInputError, ModelNotFoundError, RunIdMismatchError, ShapeMismatchError } from './errors.ts';
import { outputUnits, parsePreprocessor, type Preprocessor } from './preprocessor.ts';
import './seeded-dropout.ts';

/**
 * Model artifacts: a model is three files, `model.json` (topology + weights
 * manifest + run metadata), `weights.bin` and `preprocessor.json`. The same
 * bytes are written to a checkpoint directory or packed into one buffer with a
 * sha256 for `model_versions.artifact`. tfjs has no file saver without tfjs-node,
 * so the IOHandler here is our own.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export const PREPROCESSOR_JSON = 'preprocessor.json';
const FILE_NAMES = [MODEL_JSON, WEIGHTS_BIN, PREPROCESSOR_JSON] as const;

export type ArtifactFiles = { modelJson: Buffer; weightsBin: Buffer; preprocessorJson: Buffer };
export type LoadedModel = { model: tf.LayersModel; preprocessor: Preprocessor; runId: string; files: ArtifactFiles };
export type PackedArtifact = { bytes: Buffer; sha256: string };

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const metadataSchema = z.object({
  runId: z.string().min(1),
  kind: z.enum(['lstm', 'mlp']),
  weightsSha256: z.string().regex(/^[0-9a-f]{64}$/),
});

const modelJsonSchema = z.object({
  format: z.string().optional(),
  generatedBy: z.string().optional(),
  convertedBy: z.string().nullable().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z
    .array(
      z.object({
        paths: z.array(z.string()),
        weights: z.array(
          z.object({
            name: z.string(),
            shape: z.array(z.number().int().nonnegative()),
            dtype: z.enum(['float32', 'int32', 'bool', 'string', 'complex64']),
          }),
        ),
      }),
    )
    .length(1),
  userDefinedMetadata: metadataSchema,
});

function fileKey(name: (typeof FILE_NAMES)[number]): keyof ArtifactFiles {
  return name === MODEL_JSON ? 'modelJson' : name === WEIGHTS_BIN ? 'weightsBin' : 'preprocessorJson';
}

/**
 * The IOHandler `model.save()` calls: turns tfjs model artifacts plus the
 * preprocessor into the three files (kept in `files`), writing them to `dir` if given.
 */
export class ArtifactSaveHandler implements tf.io.IOHandler {
  files: ArtifactFiles | undefined;

  constructor(
    private readonly preprocessor: Preprocessor,
    private readonly dir?: string,
  ) {}

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
      throw new Error('only layers models with a JSON topology can be saved');
    }
    const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const weightsBin = Buffer.from(weightData);
    const modelJson = {
      format: 'layers-model',
      generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      userDefinedMetadata: { runId: this.preprocessor.runId, kind: this.preprocessor.kind, weightsSha256: sha256(weightsBin) },
    };
    this.files = {
      modelJson: Buffer.from(`${JSON.stringify(modelJson)}\n`),
      weightsBin,
      preprocessorJson: Buffer.from(`${JSON.stringify(this.preprocessor, null, 2)}\n`),
    };
    if (this.dir !== undefined) await writeArtifactDir(this.dir, this.files);
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(),
        modelTopologyType: 'JSON',
        modelTopologyBytes: this.files.modelJson.length,
        weightDataBytes: weightsBin.length,
      },
    };
  }
}

/** Serialises a model and its preprocessor to the artifact files (bytes only). */
export async function encodeModel(model: tf.LayersModel, preprocessor: Preprocessor): Promise<ArtifactFiles> {
  const handler = new ArtifactSaveHandler(preprocessor);
  await model.save(handler);
  if (!handler.files) throw new Error('model.save did not call the save handler');
  return handler.files;
}

/**
 * Writes the files to `dir`, each to a temp file first and then renamed over the
 * old one; model.json (which holds the weights' sha256) goes last, so a crash
 * mid-write leaves a checkpoint that fails its checksum rather than a silently mixed one.
 */
export async function writeArtifactDir(dir: string, files: ArtifactFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of [WEIGHTS_BIN, PREPROCESSOR_JSON, MODEL_JSON] as const) await writeFileAtomic(join(dir, name), files[fileKey(name)]);
}

/** Saves a model checkpoint directory (model.json, weights.bin, preprocessor.json); returns the bytes written. */
export async function saveModelDir(dir: string, model: tf.LayersModel, preprocessor: Preprocessor): Promise<ArtifactFiles> {
  const handler = new ArtifactSaveHandler(preprocessor, dir);
  await model.save(handler);
  if (!handler.files) throw new Error('model.save did not call the save handler');
  return handler.files;
}

/** Reads the three files of a checkpoint directory. */
export async function readArtifactDir(dir: string): Promise<ArtifactFiles> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelNotFoundError(`no ${name} in model directory ${dir}`, { cause: err });
      throw new ModelInputError(`cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err });
    }
  };
  return { modelJson: await read(MODEL_JSON), weightsBin: await read(WEIGHTS_BIN), preprocessorJson: await read(PREPROCESSOR_JSON) };
}

const PACK_MAGIC = Buffer.from('SIGNALS-MODEL\n');
const packHeaderSchema = z.strictObject({
  format: z.literal('signals-model-pack/1'),
  files: z.array(z.strictObject({ name: z.enum(FILE_NAMES), bytes: z.number().int().nonnegative(), sha256: z.string() })).length(3),
});

/**
 * Packs the files into one buffer: magic line, u32 header length, JSON header
 * (name, size, sha256 of each file), then the file bytes. `sha256` covers the whole buffer.
 */
export function packArtifact(files: ArtifactFiles): PackedArtifact {
  const parts = FILE_NAMES.map((name) => ({ name, bytes: files[fileKey(name)] }));
  const header = Buffer.from(
    JSON.stringify({ format: 'signals-model-pack/1', files: parts.map((p) => ({ name: p.name, bytes: p.bytes.length, sha256: sha256(p.bytes) })) }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  const bytes = Buffer.concat([PACK_MAGIC, len, header, ...parts.map((p) => p.bytes)]);
  return { bytes, sha256: sha256(bytes) };
}

/** Unpacks a buffer made by `packArtifact`, refusing it (ChecksumMismatchError) unless every sha256 matches. */
export function unpackArtifact(bytes: Uint8Array, expectedSha256: string, what = 'model artifact'): ArtifactFiles {
  const actual = sha256(bytes);
  if (actual !== expectedSha256) throw new ChecksumMismatchError(what, expectedSha256, actual);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < PACK_MAGIC.length + 4 || !buf.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
    throw new ModelInputError(`${what} is not a packed signals model`);
  }
  const headerLen = buf.readUInt32BE(PACK_MAGIC.length);
  let offset = PACK_MAGIC.length + 4;
  let header: z.output<typeof packHeaderSchema>;
  try {
    header = packHeaderSchema.parse(JSON.parse(buf.subarray(offset, offset + headerLen).toString('utf8')));
  } catch (err) {
    throw new ModelInputError(`${what} has an invalid header`, { cause: err });
  }
  offset += headerLen;
  const files: Partial<ArtifactFiles> = {};
  for (const f of header.files) {
    const part = buf.subarray(offset, offset + f.bytes);
    offset += f.bytes;
    const partSha = sha256(part);
    if (part.length !== f.bytes || partSha !== f.sha256) throw new ChecksumMismatchError(`${what}: ${f.name}`, f.sha256, partSha);
    files[fileKey(f.name)] = Buffer.from(part);
  }
  if (!files.modelJson || !files.weightsBin || !files.preprocessorJson) throw new ModelInputError(`${what} lacks one of ${FILE_NAMES.join(', ')}`);
  return { modelJson: files.modelJson, weightsBin: files.weightsBin, preprocessorJson: files.preprocessorJson };
}

/**
 * Checks and loads artifact files: weights sha256 against model.json, run ids of
 * model.json and preprocessor.json (and `expectRunId`), model kind and input
 * shape against the preprocessor. Each failure is its own typed error.
 */
export async function decodeModel(files: ArtifactFiles, options: { source: string; expectRunId?: string | undefined }): Promise<LoadedModel> {
  const { source } = options;
  let raw: unknown;
  try {
    raw = JSON.parse(files.modelJson.toString('utf8'));
  } catch (err) {
    throw new ModelInputError(`${source}/${MODEL_JSON} is not valid JSON`, { cause: err });
  }
  const parsed = modelJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelInputError(`${source}/${MODEL_JSON} is not a signals model: ${issues}`);
  }
  const modelJson = parsed.data;
  const meta = modelJson.userDefinedMetadata;
  const weightsSha = sha256(files.weightsBin);
  if (weightsSha !== meta.weightsSha256) throw new ChecksumMismatchError(`${source}/${WEIGHTS_BIN}`, meta.weightsSha256, weightsSha);
  const preprocessor = parsePreprocessor(files.preprocessorJson.toString('utf8'), `${source}/${PREPROCESSOR_JSON}`);
  if (preprocessor.runId !== meta.runId) throw new RunIdMismatchError(meta.runId, preprocessor.runId, `${source}/${PREPROCESSOR_JSON}`);
  if (options.expectRunId !== undefined && meta.runId !== options.expectRunId) {
    throw new RunIdMismatchError(options.expectRunId, meta.runId, `${source}/${MODEL_JSON}`);
  }
  if (preprocessor.kind !== meta.kind) throw new ShapeMismatchError('model kind (model.json vs preprocessor.json)', meta.kind, preprocessor.kind, source);

  const weightSpecs = modelJson.weightsManifest[0]?.weights ?? [];
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData: new Uint8Array(files.weightsBin).buffer,
      userDefinedMetadata: meta,
    }),
  };
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(handler);
  } catch (err) {
    throw new ModelInputError(`${source}: the model cannot be rebuilt from its artifacts: ${(err as Error).message}`, { cause: err });
  }
  const shape = model.inputs[0]?.shape ?? [];
  const expected = [null, preprocessor.lookback, preprocessor.featureNames.length];
  if (shape.length !== 3 || shape[1] !== expected[1] || shape[2] !== expected[2]) {
    model.dispose();
    throw new ShapeMismatchError('model input shape vs preprocessor [batch, lookback, features]', expected, shape, source);
  }
  const units = model.outputs.map((o) => o.shape[1]);
  const heads = outputUnits(preprocessor);
  if (units.join(',') !== heads.join(',')) {
    model.dispose();
    throw new ShapeMismatchError('model output heads vs preprocessor (value, pUp[, hValue, hUp, hLogVar] units)', heads, units, source);
  }
  return { model, preprocessor, runId: meta.runId, files };
}

/**
 * Loads a checkpoint directory. A directory inside `checkpoints/<run_id>/` must
 * hold that run's model (RunIdMismatchError otherwise).
 */
export async function loadModelDir(dir: string, options: { expectRunId?: string | undefined } = {}): Promise<LoadedModel> {
  const files = await readArtifactDir(dir);
  const loaded = await decodeModel(files, { source: dir, expectRunId: options.expectRunId });
  const runDir = dirname(dir);
  if (basename(dirname(runDir)) === 'checkpoints' && basename(runDir) !== loaded.runId) {
    loaded.model.dispose();
    throw new RunIdMismatchError(basename(runDir), loaded.runId, dir);
  }
  return loaded;
}
