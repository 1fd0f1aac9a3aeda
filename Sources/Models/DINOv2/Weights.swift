extension DinoVisionTransformer {
    /// DINOv2 modules bind their weights through the shared `ModuleWeights` view.
    public typealias Weights = ModuleWeights
}
