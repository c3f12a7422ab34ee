export * from './config';
export * from './sae';
export * from './registry';
export {
  Architecture, InferenceArchitecture, TrainingArchitecture, ArchitectureField, TrainingDefaults, TrainStepInput, TrainStepOutput, TrainedExport, CoefficientFields,
  registerArchitecture, getArchitecture, listArchitectures, allArchitectures, inferenceArchitecture, trainingArchitecture, DEFAULT_ARCHITECTURE,
} from './architectures';
export { loadSAEFolder, loadPretrainedSAE, LoadedSAE, FolderLoadOptions, gemmaScopeRawConfig } from './loading';
export { parsePep440, comparePep440 } from './pep440';
export * from './splice';
export * from './modelOptions';
