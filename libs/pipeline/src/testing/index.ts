// Test support for libs/pipeline and its users (@likeness/pipeline/testing); not for production.
export * from './speech';
export * from './synthetic-audio';
export * from './synthetic-images';
export * from './face-photos';
export * from './viewer-metrics';
