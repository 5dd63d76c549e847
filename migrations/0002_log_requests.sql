CREATE TABLE `log_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`device_id` integer NOT NULL,
	`status` text NOT NULL,
	`window_start` text,
	`window_end` text,
	`prefixes` text NOT NULL,
	`creation_time` text NOT NULL,
	`update_time` text NOT NULL,
	`delivery_time` text,
	`upload_id` text,
	`upload_start_time` text,
	`completion_time` text,
	`file_key` text,
	`file_size` integer,
	`file_content_type` text,
	`failure_reason` text,
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `log_requests_one_open` ON `log_requests` (`device_id`) WHERE status IN ('pending', 'delivered', 'uploading');--> statement-breakpoint
CREATE INDEX `log_requests_device_time` ON `log_requests` (`device_id`,`creation_time`);