package simnet

// cidExists reports whether node sp holds cid (image: the batch_image_cids_exist route).
func (n *Network) cidExists(sp int32, cid string, image bool) bool {
	return false
}

// userCIDs fills metadata_multihash, profile_picture, profile_picture_sizes, cover_photo and
// cover_photo_sizes of generated user i (nil for NULL).
func (n *Network) userCIDs(i int, dst []any) {}
