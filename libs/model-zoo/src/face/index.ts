export * from './graph-io';
export * from './face-detector';
export * from './identity-encoder';
export { readTfjsWeights, type DecodedWeight } from './tfjs-weights';
export { writeFaceModels, type FaceModelFiles } from './write-face-models';
