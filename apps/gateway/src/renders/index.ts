export { RendersModule } from './renders.module';
export { RendersService } from './renders.service';
export { RenderDispatcher, type AdmissionPass } from './render.dispatcher';
export { RenderReconciler, type ReconcileReport } from './render.reconciler';
