import Tensor

/// The evaluation's label preparation (spec §3): a class-index label binarised for the episode's
/// class — the class → 1, 255 → 255 (ignore), everything else → 0 — at the original size (the
/// query's metric target, the authors' `raw_label`), and resized with INTER_NEAREST to the model
/// size (supports). Not `ModelInput.supportLabel`: that reads user masks (any nonzero = target),
/// which would make every other class of a VOC/COCO label a target.
public enum EvalLabel {
    public static let ignore: UInt8 = 255

    public static func binarised(_ label: LabelImage, classID: Int) -> [UInt8] {
        label.values.map { v in
            if v == 255 { return ignore }
            return Int(v) == classID ? 1 : 0
        }
    }

    /// `[size·size]` bytes with values 0 / 1 / 255, as `FSSAM.SupportInput.label` takes them.
    /// Nearest sampling picks source pixels, so binarising first gives the same bytes as the
    /// authors' resize-then-compare order.
    public static func modelSize(_ binary: [UInt8], width: Int, height: Int, size: Int = ModelInput.size) -> [UInt8] {
        OpenCVResize.nearest(binary, height: height, width: width, toHeight: size, toWidth: size)
    }
}
