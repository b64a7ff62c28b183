export {
  FACE_KEYPOINT_NAMES,
  type FaceRect,
  type FaceKeypointName,
  type FacePoint,
} from './blazeface';
export * from './face.types';
export * from './face.errors';
export { type ImageInput, loadRgbImage } from './image';
export * from './detect-faces';
export * from './choose-face';
export * from './align-face';
export * from './embed-face';
